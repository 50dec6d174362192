"""`birbctl demo`: see a gateway session break and recover, with nothing to set up."""

from __future__ import annotations

from typing import Annotated

import typer

from birbctl.cli.connection import DurationOpt, RecordOpt


def demo(
    duration: DurationOpt = None,
    record: RecordOpt = None,
    shards: Annotated[int, typer.Option(help="Shards to run.", min=1, max=16)] = 1,
    encoding: Annotated[str, typer.Option(help="json or etf.")] = "json",
    compress: Annotated[str, typer.Option(help="zlib-stream, zstd-stream or none.")] = (
        "zlib-stream"
    ),
    json_lines: Annotated[bool, typer.Option("--json", help="JSON Lines of state changes.")] = (
        False
    ),
) -> None:
    """Run a local gateway emulator and the live dashboard against it.

    The emulator sends op 7 (resume), delays heartbeat ACKs (a latency spike), drops
    the connection and invalidates the session, over and over. Ctrl-C (or q) stops.
    """
    import asyncio

    from birbctl.cli.connect import make_view
    from birbctl.client.demo import run_demo
    from birbctl.errors import ConfigError

    if encoding not in ("json", "etf"):
        raise ConfigError(f"--encoding {encoding!r}: json or etf")
    if compress not in ("zlib-stream", "zstd-stream", "none"):
        raise ConfigError(f"--compress {compress!r}: zlib-stream, zstd-stream or none")
    code = asyncio.run(
        run_demo(
            make_view(json_lines),
            duration=duration,
            record=record,
            shards=shards,
            encoding=encoding,
            compress=None if compress == "none" else compress,
        )
    )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
