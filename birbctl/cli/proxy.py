"""`birbctl proxy`: stand between your own bot and the Discord API, and watch its session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from birbctl.cli.connection import (
    EVERY_PACKET,
    DurationOpt,
    FilterOptions,
    MetricsOpt,
    RecordOpt,
    metrics_address,
)
from birbctl.cli.serve import FAULT_HELP
from birbctl.options import DEFAULT_API_URL, TailFormat

if TYPE_CHECKING:
    import asyncio

    from birbctl.capture.filters import PacketFilter
    from birbctl.metrics.address import MetricsAddress
    from birbctl.proxy.control import ProxyBoard
    from birbctl.proxy.server import ProxyConfig
    from birbctl.render.dashboard import DashboardView

LISTEN_HELP = (
    "Where the bot connects, HOST:PORT on a loopback address (the proxy passes bot tokens "
    "on); port 0 picks a free one and the command prints it."
)
UPSTREAM_HELP = (
    "The API base to forward to, as --api-url takes it (e.g. http://127.0.0.1:8080/api/v10 "
    "for `birbctl serve`). Its gateway is asked with GET /gateway."
)
UPSTREAM_CA_HELP = (
    "Also trust this CA certificate (PEM) for an https:// or wss:// upstream, such as a "
    "local one with a self-signed certificate."
)

FORMAT_HELP = (
    "Print every bot connection's packets as `tail` does: line, jsonl ({ts, dir, shard, op, "
    "t, s, d}, what `decode` prints for the --record capture) or raw. Packets go to stdout; "
    "the URLs, REST calls and connection lines go to stderr. Without it: those lines only."
)


def proxy(
    listen: Annotated[str, typer.Option("--listen", help=LISTEN_HELP)] = "127.0.0.1:0",
    upstream: Annotated[str, typer.Option("--upstream", help=UPSTREAM_HELP)] = DEFAULT_API_URL,
    upstream_ca: Annotated[
        Path | None, typer.Option("--upstream-ca", help=UPSTREAM_CA_HELP)
    ] = None,
    duration: DurationOpt = None,
    fmt: Annotated[TailFormat | None, typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    only: FilterOptions = EVERY_PACKET,
    record: RecordOpt = None,
    scenario: Annotated[
        Path | None,
        typer.Option(help="TOML fault timeline, as `birbctl serve` takes (docs/emulator.md)."),
    ] = None,
    fault: Annotated[list[str] | None, typer.Option("--fault", help=FAULT_HELP)] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed for the `probability` of handshake steps and `corrupt` bytes."),
    ] = None,
    metrics: MetricsOpt = None,
) -> None:
    """Proxy a bot's REST calls and gateway connections to the Discord API, and show them.

    Point the bot's API base at the printed rest URL; GET /gateway/bot then sends its
    gateway connections through the proxy too. Prints one line per REST call and per
    bot connection opened or closed, and with --format every packet; never a token.
    Faults (--fault, --scenario, the admin endpoint) strike the bot's connections with
    `birbctl serve`'s vocabulary; `birbctl reconnect|terminate|close` act on them.
    """
    import asyncio

    from birbctl.emulator.faults import parse_fault_flag
    from birbctl.emulator.scenario import load_scenario
    from birbctl.errors import ConfigError
    from birbctl.proxy.server import ProxyConfig, parse_listen

    if fmt is None and only != EVERY_PACKET:
        raise ConfigError("--event, --op, --dir and --no-heartbeats choose packets for --format")
    packet_filter = only.packet_filter()  # a bad --op is a usage error before serving
    address = metrics_address(metrics)
    steps = list(load_scenario(scenario)) if scenario is not None else []
    steps += [parse_fault_flag(text) for text in fault or []]
    host, port = parse_listen(listen)
    config = ProxyConfig(
        host=host,
        port=port,
        upstream=upstream,
        upstream_ca=None if upstream_ca is None else str(upstream_ca),
        steps=tuple(steps),
        seed=seed,
    )
    code = asyncio.run(_run(config, listen, duration, fmt, packet_filter, record, address))
    raise typer.Exit(code)


async def _run(
    config: ProxyConfig,
    listen: str,
    duration: float | None,
    fmt: TailFormat | None,
    packet_filter: PacketFilter,
    record: str | None,
    address: MetricsAddress | None = None,
) -> int:
    """Serve until --duration passes, a signal comes or stdout's reader leaves; 0, or
    128 + the signal's number (1 if the recording failed)."""
    import asyncio
    import contextlib
    import sys
    import time

    from birbctl.client.control import ControlServer
    from birbctl.client.signals import StopSignals
    from birbctl.errors import ConfigError
    from birbctl.proxy.control import proxy_handler
    from birbctl.proxy.rest import RestCall
    from birbctl.proxy.rows import ProxyRows
    from birbctl.proxy.server import ADMIN_PREFIX, ProxyServer, RelayWatcher

    # With --format, stdout is packets only (for jq), as tail's; the proxy's lines go
    # to stderr. On a terminal without --format, a dashboard shows the bots' shards and
    # the lines go to its log.
    lines_to = sys.stdout if fmt is None else sys.stderr
    rows = ProxyRows() if fmt is None and sys.stdout.isatty() else None

    def stamp() -> str:
        return time.strftime("%H:%M:%S")

    def line(text: str) -> None:
        if rows is not None:
            rows.note(text, level="warn" if ": fault " in text else "info")
            return
        lines_to.write(f"{stamp()} {text}\n")
        lines_to.flush()

    rest_counts = None
    if address is not None:
        from birbctl.proxy.restcounts import RestCounts

        rest_counts = RestCounts()

    def rest_call(call: RestCall) -> None:
        if rest_counts is not None:
            rest_counts.observe(call)
        line(call.line())

    def failure(text: str) -> None:
        if rows is not None:
            rows.note(text, level="error")
            return
        sys.stderr.write(f"{stamp()} {text}\n")
        sys.stderr.flush()

    _aiohttp_logs_in_one_line(failure)
    stop = asyncio.Event()
    watchers: list[RelayWatcher] = []
    recorder = None
    if record is not None:
        from birbctl.proxy.record import ProxyRecorder

        recorder = ProxyRecorder(record, on_failure=failure)  # a bad path: exit 1 now
        watchers.append(recorder)
    if fmt is not None:
        from birbctl.proxy.views import PacketView

        watchers.append(PacketView(fmt, packet_filter, note=failure, on_gone=stop.set))
    server = ProxyServer(
        config,
        on_rest=rest_call,
        on_note=line,
        on_failure=failure,
        watchers=watchers,
        rows=rows,
    )
    view: DashboardView | None = None
    board: ProxyBoard | None = None
    shown: asyncio.Task[None] | None = None
    endpoint = None
    if address is not None and rest_counts is not None:  # bound first, as serve's
        from birbctl.metrics.collector import LoopBridge, ShardCollector
        from birbctl.metrics.endpoint import MetricsEndpoint
        from birbctl.metrics.proxy import RestCollector

        bridge = LoopBridge(asyncio.get_running_loop())
        collectors = [
            ShardCollector(server.rows.metrics_samples, bridge=bridge),
            RestCollector(rest_counts.read, bridge=bridge),
        ]
        endpoint = MetricsEndpoint(address, "proxy", collectors)
        endpoint.start()
    signals = StopSignals(stop)
    with signals:
        try:
            await server.start()
        except OSError as exc:
            if endpoint is not None:
                endpoint.close()
            raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
        try:
            out = lines_to
            out.write(f"gateway  {server.gateway_url}\n")
            out.write(f"rest     {server.rest_url}\n")
            admin = f"http://{server.gateway_url[5:]}{ADMIN_PREFIX}"
            out.write(f"admin    {admin}sessions  (POST {admin}faults?action=...)\n")
            if endpoint is not None:
                endpoint.announce(out)
            steps = len(config.steps)
            out.write(f"upstream {server.upstream.api_url}; {steps} fault step(s); Ctrl-C stops\n")
            out.flush()
            # `birbctl status` and `ping` see each bot connection as a shard.
            async with ControlServer(proxy_handler(server), command="proxy"):
                if rows is not None:
                    from birbctl.proxy.control import ProxyBoard
                    from birbctl.render.dashboard import DashboardView

                    board = ProxyBoard(server)
                    view = DashboardView()
                    shown = asyncio.create_task(view.run(board, stop))
                try:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(duration):
                            await stop.wait()
                finally:
                    if shown is not None:
                        stop.set()
                        with contextlib.suppress(Exception):
                            await shown
        finally:
            await server.stop()
            if endpoint is not None:
                endpoint.close()
            if recorder is not None:
                recorder.close()
            if view is not None and board is not None:
                view.finish(board)  # the last frame stays, with a summary line per shard
    return signals.exit_code(1 if recorder is not None and recorder.failed is not None else 0)


def _aiohttp_logs_in_one_line(write: Callable[[str], None]) -> None:
    """aiohttp logs what it could not handle (a malformed request, a handler's bug) with
    a traceback; here each is one line naming the error's class only, since its text can
    quote the request (and so a token)."""
    import logging

    class OneLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            error = record.exc_info[1] if record.exc_info else None
            detail = "" if error is None else f" ({type(error).__name__})"
            write(f"{record.getMessage().split(chr(10), 1)[0]}{detail}")

    logger = logging.getLogger("aiohttp")
    logger.handlers[:] = [OneLine(logging.WARNING)]
    logger.propagate = False


def register(app: typer.Typer) -> None:
    app.command("proxy")(proxy)
