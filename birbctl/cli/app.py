"""The `birbctl` command: one typer app, commands registered from thin modules.

Command modules import their heavy dependencies inside the command function, so
`birbctl --help` and shell completion stay fast.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from birbctl import __version__

app = typer.Typer(
    name="birbctl",
    help="Inspect the Discord Gateway: connect, watch, record, decode, break sessions on purpose.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_debug = False

DebugOpt = Annotated[bool, typer.Option("--debug", "-v", help="Show tracebacks for errors.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"birbctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: DebugOpt = False,
) -> None:
    global _debug
    _debug = debug or bool(os.environ.get("BIRBCTL_DEBUG"))


def _with_shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` as typer should see it: each parameter typed as an option group (a
    dataclass of options, such as cli/connection.py's ConnectionOptions) spread into
    that group's fields, and a --debug/-v option of its own, so the flag also works after
    the command name (`birbctl decode x --debug`), where users put it."""
    hints = typing.get_type_hints(command, include_extras=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for param in inspect.signature(command).parameters.values():
        hint = hints[param.name]
        if _is_group(hint):
            groups[param.name] = hint
            parameters.extend(_group_parameters(hint))
        else:
            parameters.append(_keyword(param.name, hint, param.default))
    parameters.append(_keyword("debug", DebugOpt, False))
    names = [param.name for param in parameters]
    if len(set(names)) != len(names):
        raise TypeError(f"{command.__name__}: two options share a name in {names}")

    @functools.wraps(command)
    def run(**kwargs: Any) -> Any:
        global _debug
        _debug = _debug or kwargs.pop("debug", False)
        for name, group in groups.items():
            kwargs[name] = _gather(group, kwargs)
        return command(**kwargs)

    # Typer reads the signature and the annotations; both describe the spread options.
    run.__dict__["__signature__"] = inspect.Signature(parameters)
    run.__annotations__ = {param.name: param.annotation for param in parameters}
    return run


def _is_group(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    # Keyword-only: typer calls with keywords, and options may then come in any order.
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _group_parameters(group: type) -> Iterator[inspect.Parameter]:
    """A group's fields as options, in order; a field that is itself a group, spread."""
    hints = typing.get_type_hints(group, include_extras=True)
    for field in dataclasses.fields(group):
        hint = hints[field.name]
        if _is_group(hint):
            yield from _group_parameters(hint)
        else:
            yield _keyword(field.name, hint, field.default)


def _gather(group: type, kwargs: dict[str, Any]) -> Any:
    """The group built back from the spread options typer parsed (taken out of kwargs)."""
    hints = typing.get_type_hints(group, include_extras=True)
    values = {
        field.name: _gather(hints[field.name], kwargs)
        if _is_group(hints[field.name])
        else kwargs.pop(field.name)
        for field in dataclasses.fields(group)
    }
    return group(**values)


def _register() -> None:
    from birbctl.cli import (
        connect,
        control,
        decode,
        demo,
        encode,
        gateway,
        proxy,
        report,
        serve,
        tail,
    )

    demo.register(app)
    connect.register(app)
    tail.register(app)
    control.register(app)
    gateway.register(app)
    decode.register(app)
    encode.register(app)
    serve.register(app)
    proxy.register(app)
    report.register(app)
    # One place for the options every command takes, after or before its name.
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = _with_shared_options(info.callback)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error, ours or typer's usage error, as one line and its code."""
    from birbctl.errors import EXIT_INTERRUPTED, BirbError

    try:
        # Not standalone: typer hands its usage errors back instead of drawing a box.
        code = app(args=argv, prog_name="birbctl", standalone_mode=False)
    except KeyboardInterrupt:
        sys.stderr.write("birbctl: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except BirbError as exc:
        if _debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"birbctl: error: {exc}\n")
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("birbctl: error: aborted\n")
        sys.exit(1)
    except typer.TyperException as exc:  # a usage error: bad option value, missing argument
        message = " ".join(exc.format_message().split())
        if not message:  # no command given: typer has printed the help
            sys.exit(exc.exit_code)
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        sys.stderr.write(f"birbctl: error: {message}{hint}\n")
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
