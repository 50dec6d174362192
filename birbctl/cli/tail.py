"""`birbctl tail`: stream a live connection's packets (into jq, a file, a terminal)."""

from __future__ import annotations

from typing import Annotated

import typer

from birbctl.cli.connection import (
    EVERY_PACKET,
    ConnectionOptions,
    FilterOptions,
    MetricsOpt,
    with_metrics,
)
from birbctl.options import TailFormat

FORMAT_HELP = (
    "line: time, direction, op, event, seq, size and a compact body; jsonl: "
    "{ts, dir, shard, op, t, s, d} per line (what `decode` prints for a capture); raw: the "
    "inflated message as the gateway sent it (ETF as base64)."
)


def tail(
    options: ConnectionOptions,
    fmt: Annotated[TailFormat, typer.Option("--format", "-f", help=FORMAT_HELP)] = (
        TailFormat.LINE
    ),
    only: FilterOptions = EVERY_PACKET,
    count: Annotated[
        int | None, typer.Option("--count", "-n", help="Stop after N packets.", min=1)
    ] = None,
    metrics: MetricsOpt = None,
) -> None:
    """Print every packet of a live gateway connection as it arrives or leaves."""
    import asyncio

    from birbctl.client.runner import run_connect
    from birbctl.render.tail import TailView

    connect_options = options.connect_options("tail")
    view = with_metrics(TailView(fmt, only.packet_filter(), count=count), metrics, "tail")
    raise typer.Exit(asyncio.run(run_connect(connect_options, view)))


def register(app: typer.Typer) -> None:
    app.command("tail")(tail)
