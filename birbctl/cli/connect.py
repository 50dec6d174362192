"""`birbctl connect`: connect shards and watch them live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from birbctl.cli.connection import ConnectionOptions, MetricsOpt, with_metrics

if TYPE_CHECKING:
    from birbctl.client.runner import View


def connect(
    options: ConnectionOptions,
    json_lines: Annotated[
        bool, typer.Option("--json", help="JSON Lines of state changes, for scripts.")
    ] = False,
    metrics: MetricsOpt = None,
) -> None:
    """Connect to the gateway and show each shard's status, pings and events live.

    On a terminal: a dashboard (keys: r resume, R fresh identify, t terminate,
    c close with a code, q quit). Elsewhere: one line per state change.
    """
    import asyncio
    import sys

    from birbctl.client.runner import run_connect

    connect_options = options.connect_options("connect")
    view = with_metrics(make_view(json_lines), metrics, "connect")
    code = asyncio.run(run_connect(connect_options, view))
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
