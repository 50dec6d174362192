"""Closed options take their enums: `--help` and completion list the choices, and a bad
value is typer's own usage error (exit 2) naming them; shared options exist once."""

from __future__ import annotations

import ast
import enum
import os
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import typer.main
from conftest import birbctl, one_line_error

from birbctl.cli.app import app
from birbctl.cli.connection import ConnectionOptions, RunOptions, WireOptions

ROOT = Path(__file__).resolve().parents[2]

#: Every closed option of every command, by the enum words it must offer.
CLOSED = {
    "connect": {"--encoding": "json etf", "--compress": "zlib-stream zstd-stream none"},
    "tail": {
        "--encoding": "json etf",
        "--compress": "zlib-stream zstd-stream none",
        "--format": "line jsonl raw",
        "--dir": "send recv",
    },
    "demo": {"--encoding": "json etf", "--compress": "zlib-stream zstd-stream none"},
    "decode": {
        "--from": "capture har etf json jsonl zlib-stream zstd-stream",
        "--to": "jsonl json pretty etf",
        "--dir": "send recv",
    },
    "encode": {"--to": "etf json", "--style": "client server"},
    "proxy": {"--format": "line jsonl raw", "--dir": "send recv"},
}


def _enum_of(annotation: Any) -> type[enum.Enum] | None:
    """The enum an option's type is (also inside `X | None`), or None."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        found = [_enum_of(arg) for arg in typing.get_args(annotation)]
        return next((e for e in found if e is not None), None)
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, enum.Enum) else None
    )


def closed_options() -> dict[str, dict[str, str]]:
    """What typer built: each command's options whose type is an enum, with its words."""
    group = typer.main.get_command(app)
    found: dict[str, dict[str, str]] = {}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            kind = _enum_of(param.type_descriptor.annotation)
            if kind is not None:
                words = " ".join(str(member.value) for member in kind)
                found.setdefault(name, {})[param.opts[0]] = words
    return found


def test_every_closed_option_takes_an_enum() -> None:
    assert closed_options() == CLOSED


def usage_error(result: subprocess.CompletedProcess[bytes], option: str, words: str) -> str:
    """Assert typer's usage error for `option` in the house shape: exit 2, one line, the
    choices named, where to read more, no traceback."""
    err = one_line_error(result, code=2)
    assert f"Invalid value for '{option}'" in err, err
    assert all(f"'{word}'" in err for word in words.split()), err
    assert "--help')" in err, err
    return err


BAD_VALUES = [
    ("connect", "--encoding"),
    ("connect", "--compress"),
    ("tail", "--format"),
    ("tail", "--dir"),
    ("tail", "--encoding"),
    ("decode", "--to"),
    ("decode", "--from"),
    ("decode", "--dir"),
    ("demo", "--compress"),
    ("demo", "--encoding"),
    ("encode", "--to"),
    ("encode", "--style"),
    ("proxy", "--format"),
    ("proxy", "--dir"),
]


@pytest.mark.parametrize(("command", "option"), BAD_VALUES)
def test_a_bad_value_is_typers_usage_error(command: str, option: str, tmp_path: Path) -> None:
    target = tmp_path / "in.json"
    target.write_bytes(b"{}")
    files = [str(target)] if command in ("decode", "encode") else []
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    result = birbctl(command, option, "xml", *files, env=env)
    usage_error(result, option, CLOSED[command][option])


def test_connect_encoding_xml_names_json_and_etf() -> None:
    """The issue's own example, word for word."""
    flat = usage_error(birbctl("connect", "--encoding", "xml"), "--encoding", "json etf")
    assert "'xml' is not one of 'json', 'etf'" in flat


@pytest.mark.parametrize("command", sorted(CLOSED))
def test_help_shows_the_choices_of_every_closed_option(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "birbctl", command, "--help"],
        env={**os.environ, "COLUMNS": "300"}, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    text = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    for option, words in CLOSED[command].items():
        # The option's own row of the table (the command's text may name it too).
        line = next(line for line in text.splitlines() if line.lstrip("│ ").startswith(option))
        assert f"<{'|'.join(words.split())}>" in line, line


def complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_BIRBCTL_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    code = "from birbctl.cli.app import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    return result.stdout.split()


def test_completion_offers_the_choices() -> None:
    assert complete("birbctl connect --encoding ") == ["json", "etf"]
    assert complete("birbctl tail --format j") == ["jsonl"]
    assert complete("birbctl decode --to p") == ["pretty"]


# --- connection options, declared once ------------------------------------------------


SHARED = [
    "--token-file", "--api-url", "--gateway-url", "--encoding", "--compress", "--intents",
    "--shard", "--shards", "--record", "--duration",
]  # fmt: skip


def _options(command: str) -> dict[str, Any]:
    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    return {p.opts[0]: (p.opts, p.help, p.default, p.envvar) for p in params}


def test_connect_and_tail_take_the_same_connection_options() -> None:
    connect, tail = _options("connect"), _options("tail")
    assert list(connect)[: len(SHARED)] == SHARED == list(tail)[: len(SHARED)]
    assert {o: connect[o] for o in SHARED} == {o: tail[o] for o in SHARED}
    assert connect["--api-url"][3] == "BIRBCTL_API_URL"
    demo = _options("demo")
    for option in ("--encoding", "--compress", "--record", "--duration"):
        assert demo[option] == connect[option]


def test_tail_decode_and_proxy_take_the_same_filters() -> None:
    tail, decode, proxy = _options("tail"), _options("decode"), _options("proxy")
    filters = ["--event", "--op", "--dir", "--no-heartbeats"]
    assert {o: tail[o] for o in filters} == {o: decode[o] for o in filters}
    assert {o: tail[o] for o in filters} == {o: proxy[o] for o in filters}


def test_the_groups_come_back_whole() -> None:
    """What typer parsed is handed to the command as the group it declared."""
    from birbctl.cli.app import _gather

    kwargs: dict[str, Any] = {
        "token_file": None, "api_url": "http://x", "gateway_url": "ws://h", "encoding": "etf",
        "compress": "none", "intents": "all", "shard": "0/1", "shards": None,
        "record": "r.cap", "duration": 1.5, "json_lines": True,
    }  # fmt: skip
    options = _gather(ConnectionOptions, kwargs)
    assert kwargs == {"json_lines": True}
    assert options.wire == WireOptions("etf", "none")  # type: ignore[arg-type]
    assert options.run == RunOptions("r.cap", 1.5)
    assert options.api_url == "http://x" and options.shard == "0/1"


def test_shard_and_shards_together_is_a_usage_error() -> None:
    result = birbctl("connect", "--shard", "0/2", "--shards", "2")
    assert result.returncode == 2
    assert result.stderr.decode() == "birbctl: error: --shard and --shards do not go together\n"


def test_the_enums_module_imports_only_enum() -> None:
    """birbctl/options.py is imported at start-up (help, completion): nothing heavier."""
    tree = ast.parse((ROOT / "birbctl" / "options.py").read_text())
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"__future__", "enum"}


def test_decode_from_offers_what_sniff_detects() -> None:
    """`--from` offers every format codec/sniff.py can name, and nothing else."""
    from birbctl.codec.sniff import sniff
    from birbctl.options import SourceFormat

    heads = {
        SourceFormat.ETF: bytes([131, 106]),
        SourceFormat.ZSTD_STREAM: b"\x28\xb5\x2f\xfd",
        SourceFormat.ZLIB_STREAM: b"\x78\x9c",
        SourceFormat.CAPTURE: b'{"birbctl-capture": 1}\n',
        SourceFormat.HAR: b'{"log": {}}',
        SourceFormat.JSONL: b'{"op": 1}\n{"op": 1}\n',
        SourceFormat.JSON: b'{"op": 1}',
    }
    assert set(heads) == set(SourceFormat)
    assert all(sniff(head) is kind for kind, head in heads.items())


def test_no_type_ignore_left_in_cli() -> None:
    for path in sorted((ROOT / "birbctl" / "cli").glob("*.py")):
        assert "type: ignore" not in path.read_text(), path


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["decode"], "Missing argument 'files'. (see 'birbctl decode --help')"),
        (["nosuch"], "No such command 'nosuch'. (see 'birbctl --help')"),
        (["status", "--pid", "x"], "Invalid value for '--pid'"),
        (["decode", "--nope", "x"], "No such option: --nope"),
    ],
)
def test_every_usage_error_is_one_line(argv: list[str], said: str) -> None:
    assert said in one_line_error(birbctl(*argv), code=2)


def test_no_command_prints_the_help_and_no_error_line() -> None:
    result = birbctl()
    assert result.returncode == 2 and b"Usage: birbctl" in result.stdout
    assert result.stderr == b""
