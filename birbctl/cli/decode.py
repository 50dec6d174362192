"""`birbctl decode`: print what captured gateway bytes say, as JSON."""

from __future__ import annotations

from typing import Annotated

import typer

FROM_HELP = "Force the input format: etf, json, jsonl, zlib-stream, zstd-stream."
TO_HELP = "Output: jsonl (one message a line, for jq) or pretty (indented JSON)."


def decode(
    files: Annotated[list[str], typer.Argument(help="Files to decode; - reads stdin.")],
    from_: Annotated[str | None, typer.Option("--from", help=FROM_HELP)] = None,
    to: Annotated[str, typer.Option("--to", help=TO_HELP)] = "jsonl",
) -> None:
    """Decode raw ETF, JSON, JSON Lines, or a raw zlib-stream / zstd-stream file."""
    import sys

    import orjson

    from birbctl.capture.sources import iter_messages
    from birbctl.cli.output import stdout_pipe
    from birbctl.errors import ConfigError

    if to not in ("jsonl", "pretty"):
        raise ConfigError(f"--to {to!r}: choose jsonl or pretty")
    option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
    if to == "pretty":
        option |= orjson.OPT_INDENT_2
    out = sys.stdout.buffer
    with stdout_pipe():
        for name in files:
            for message in iter_messages(name, from_):
                out.write(orjson.dumps(message.payload, option=option))
                out.flush()


def register(app: typer.Typer) -> None:
    app.command("decode")(decode)
