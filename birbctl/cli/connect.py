"""`birbctl connect`: connect shards and watch them live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from birbctl.client.runner import View

DEFAULT_API = "https://discord.com/api/v10"


def connect(
    token_file: TokenFile = None,
    api_url: ApiUrl = DEFAULT_API,
    gateway_url: GatewayUrl = None,
    encoding: EncodingOpt = "json",
    compress: CompressOpt = "zlib-stream",
    intents: IntentsOpt = "default",
    shard: ShardOpt = None,
    shards: ShardsOpt = None,
    record: RecordOpt = None,
    duration: DurationOpt = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="JSON Lines of state changes, for scripts.")
    ] = False,
) -> None:
    """Connect to the gateway and show each shard's status, pings and events live.

    On a terminal: a dashboard (keys: r resume, R fresh identify, t terminate,
    c close with a code, q quit). Elsewhere: one line per state change.
    """
    import asyncio
    import sys

    from birbctl.cli.connection import connect_options
    from birbctl.client.runner import run_connect

    options = connect_options(
        token_file=token_file, api_url=api_url, gateway_url=gateway_url, encoding=encoding,
        compress=compress, intents=intents, shard=shard, shards=shards, record=record,
        duration=duration, command="connect",
    )  # fmt: skip
    code = asyncio.run(run_connect(options, make_view(json_lines)))
    sys.stdout.flush()
    raise typer.Exit(code)


def make_view(json_lines: bool) -> View:
    """Dashboard on a terminal, plain lines in a pipe, JSON Lines with --json."""
    import sys

    from birbctl.render.lines import JsonView, PlainView

    if json_lines:
        return JsonView()
    if sys.stdout.isatty():
        from birbctl.render.dashboard import DashboardView

        dashboard: View = DashboardView()
        return dashboard
    return PlainView()


def register(app: typer.Typer) -> None:
    app.command("connect")(connect)
