"""Option values are converted by birbctl (cli/coercion.py), not by typer's pydantic
TypeAdapters: the same values out as typer gives, one clear message for a bad one, and
pydantic never imported (tests/cli/test_cli_startup.py checks that for short commands)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer._coercion import build_runtime_param
from typer.core import _TyperParameter

from birbctl.cli import coercion
from birbctl.cli.app import _register, app, main


def every_parameter() -> Iterator[tuple[str, Any]]:
    """(command path, parameter) for the group and every command, --help included."""
    _register()
    group = typer.main.get_command(app)
    commands: list[tuple[str, Any]] = [("birbctl", group)]
    commands += [(f"birbctl {name}", command) for name, command in group.commands.items()]
    for path, command in commands:
        ctx = command.make_context(path, ["--help"], resilient_parsing=True)
        for param in command.get_params(ctx):
            yield path, param


def test_every_parameter_of_every_command_converts_with_birbctl() -> None:
    seen = 0
    for path, param in every_parameter():
        assert isinstance(param, _TyperParameter), (path, param.name)
        assert isinstance(param.get_runtime_param(), coercion._Converted), (path, param.name)
        seen += 1
    assert seen > 100


class Color(enum.Enum):
    RED = "red"
    DARK_BLUE = "dark-blue"


def typer_parameter(annotation: Any, **option: Any) -> tuple[Any, typer.Context]:
    """A parameter as typer builds it from a one-option command, and a context."""
    sub = typer.Typer()

    @sub.command()
    def run(value: Any = typer.Option(None, **option)) -> None:  # noqa: B008
        pass

    run.__annotations__["value"] = annotation | None
    command = typer.main.get_command(sub)
    return next(p for p in command.params if p.name == "value"), typer.Context(command)


SAME = [
    (str, {}, ["x", "", "héllo", "0"]),
    (int, {}, ["0", "17", "-3", " 5 ", 4]),
    (int, {"min": 1, "max": 16}, ["1", "16", "8"]),
    (float, {"min": 0}, ["0", "1.5", "2", "1e3", "inf", 0.25]),
    (Path, {}, ["a/b.cap", "-", "~/x", Path("p")]),
    (Color, {}, ["red", "dark-blue", Color.RED]),
    (bool, {}, [True, False, "yes", "no", "1", "0", "true", "off"]),
]


@pytest.mark.parametrize(("annotation", "option", "values"), SAME)
def test_the_same_value_as_typers_own_conversion(
    annotation: Any, option: dict[str, Any], values: list[Any]
) -> None:
    param, ctx = typer_parameter(annotation, **option)
    theirs = build_runtime_param(param.type_descriptor)
    ours = coercion._runtime_param(param)
    assert ours is not None
    for value in values:
        expected = theirs.coerce(value, param=param, ctx=ctx)
        got = ours.coerce(value, param=param, ctx=ctx)
        assert got == expected and type(got) is type(expected), (annotation, value)


def test_a_list_option_gives_a_list() -> None:
    param, ctx = typer_parameter(list[str])
    runtime = coercion._runtime_param(param)
    assert runtime is not None
    assert runtime.coerce(("a", "b"), param=param, ctx=ctx) == ["a", "b"]
    assert runtime.coerce(None, param=param, ctx=ctx) == ()


@pytest.mark.parametrize(
    ("annotation", "option", "value", "message"),
    [
        (int, {}, "17x", "'17x' is not a valid integer."),
        (int, {}, "1.5", "'1.5' is not a valid integer."),
        (int, {"min": 1}, "0", "0 is not in the range x>=1."),
        (int, {"min": 1, "max": 16}, "17", "17 is not in the range 1<=x<=16."),
        (float, {"min": 0}, "-1", "-1 is not in the range x>=0."),
        (float, {"min": 0}, "nan", "'nan' is not a valid number."),
        (float, {}, "fast", "'fast' is not a valid number."),
        (Color, {}, "RED", "'RED' is not one of 'red', 'dark-blue'."),
        (bool, {}, "maybe", "'maybe' is not a valid boolean."),
    ],
)
def test_a_bad_value_says_what_was_wrong(
    annotation: Any, option: dict[str, Any], value: str, message: str
) -> None:
    param, ctx = typer_parameter(annotation, **option)
    runtime = coercion._runtime_param(param)
    assert runtime is not None
    with pytest.raises(typer.BadParameter) as caught:
        runtime.coerce(value, param=param, ctx=ctx)
    assert caught.value.message == message
    assert caught.value.param is param  # so the error names the option


def test_case_insensitive_choices_match_any_case() -> None:
    param, ctx = typer_parameter(Color, case_sensitive=False)
    runtime = coercion._runtime_param(param)
    assert runtime is not None
    assert runtime.coerce("Dark-Blue", param=param, ctx=ctx) is Color.DARK_BLUE


@pytest.mark.parametrize(
    "option",
    [
        {"parser": str.upper},
        {"clamp": True, "min": 0},
        {"exists": True},
        {"resolve_path": True},
        {"dir_okay": False},
    ],
)
def test_what_birbctl_does_not_convert_is_left_to_typer(option: dict[str, Any]) -> None:
    annotation = int if "clamp" in option else str if "parser" in option else Path
    assert coercion._runtime_param(typer_parameter(annotation, **option)[0]) is None


def test_a_bad_number_on_the_command_line_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--shards", "17"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "birbctl: error: Invalid value for '--shards': 17 is not in the range 1<=x<=16. "
        "(see 'birbctl demo --help')\n"
    )
