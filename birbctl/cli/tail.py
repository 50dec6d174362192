"""`birbctl tail`: stream a live connection's packets (into jq, a file, a terminal)."""

from __future__ import annotations

from typing import Annotated

import typer

from birbctl.cli.connection import (
    ApiUrl,
    CompressOpt,
    DurationOpt,
    EncodingOpt,
    GatewayUrl,
    IntentsOpt,
    RecordOpt,
    ShardOpt,
    ShardsOpt,
    TokenFile,
)

FORMAT_HELP = (
    "line: time, direction, op, event, seq, size and a compact body; jsonl: "
    "{ts, dir, op, t, s, d} per line (what `decode` prints for a capture); raw: the "
    "inflated message as the gateway sent it (ETF as base64)."
)


def tail(
    token_file: TokenFile = None,
    api_url: ApiUrl = "https://discord.com/api/v10",
    gateway_url: GatewayUrl = None,
    encoding: EncodingOpt = "json",
    compress: CompressOpt = "zlib-stream",
    intents: IntentsOpt = "default",
    shard: ShardOpt = None,
    shards: ShardsOpt = None,
    record: RecordOpt = None,
    duration: DurationOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "line",
    event: Annotated[
        list[str] | None,
        typer.Option("--event", "-e", help="Only dispatches of this type (glob, repeatable)."),
    ] = None,
    op: Annotated[
        list[str] | None, typer.Option("--op", help="Only this opcode, number or name.")
    ] = None,
    direction: Annotated[str | None, typer.Option("--dir", help="send or recv.")] = None,
    no_heartbeats: Annotated[
        bool, typer.Option("--no-heartbeats", help="Hide heartbeats and their ACKs.")
    ] = False,
    count: Annotated[
        int | None, typer.Option("--count", "-n", help="Stop after N packets.", min=1)
    ] = None,
) -> None:
    """Print every packet of a live gateway connection as it arrives or leaves."""
    import asyncio

    from birbctl.capture.filters import PacketFilter
    from birbctl.cli.connection import connect_options
    from birbctl.client.runner import run_connect
    from birbctl.errors import ConfigError
    from birbctl.render.tail import FORMATS, TailView

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose {', '.join(FORMATS)}")
    options = connect_options(
        token_file=token_file, api_url=api_url, gateway_url=gateway_url, encoding=encoding,
        compress=compress, intents=intents, shard=shard, shards=shards, record=record,
        duration=duration, command="tail",
    )  # fmt: skip
    packet_filter = PacketFilter.build(event or (), op or (), direction, not no_heartbeats)
    view = TailView(fmt, packet_filter, count=count)
    raise typer.Exit(asyncio.run(run_connect(options, view)))


def register(app: typer.Typer) -> None:
    app.command("tail")(tail)
