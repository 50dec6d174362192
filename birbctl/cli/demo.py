"""`birbctl demo`: see a gateway session break and recover, with nothing to set up."""

from __future__ import annotations

from typing import Annotated

import typer

from birbctl.cli.connection import MetricsOpt, RunOptions, WireOptions, with_metrics


def demo(
    run: RunOptions,
    wire: WireOptions,
    shards: Annotated[int, typer.Option(help="Shards to run.", min=1, max=16)] = 1,
    json_lines: Annotated[bool, typer.Option("--json", help="JSON Lines of state changes.")] = (
        False
    ),
    metrics: MetricsOpt = None,
) -> None:
    """Run a local gateway emulator and the live dashboard against it.

    The emulator sends op 7 (resume), delays heartbeat ACKs (a latency spike), drops
    the connection and invalidates the session, over and over. Ctrl-C (or q) stops.
    """
    import asyncio

    from birbctl.cli.connect import make_view
    from birbctl.client.demo import run_demo

    view = with_metrics(make_view(json_lines), metrics, "demo")
    code = asyncio.run(
        run_demo(
            view,
            duration=run.duration,
            record=run.record,
            shards=shards,
            encoding=wire.encoding,
            compress=wire.compress,
        )
    )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
