"""Tables for `birbctl status`, `ping` and `gateway`: rich renderables from the
processes' snapshots (and, for `gateway`, the REST answer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from birbctl.client.snapshot import ProcessPings, ProcessSnapshot, ProcessUnanswered

STATUS_STYLE = {
    "ready": "green",
    "disconnected": "red",
    "idle": "dim",
}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"


def status_table(processes: Sequence[ProcessSnapshot | ProcessUnanswered]) -> Table:
    """One row per shard of each running birbctl process."""
    table = Table(title="running birbctl processes", title_justify="left")
    for name in ("pid", "cmd", "shard", "status", "seq", "ping", "events", "resumes", "uptime"):
        table.add_column(
            name, justify="right" if name in ("seq", "ping", "events", "resumes") else "left"
        )
    for answer in processes:
        pid = str(answer.pid)
        if isinstance(answer, ProcessUnanswered):
            table.add_row(pid, "-", "-", f"[red]{escape(answer.error)}[/]")
            continue
        for shard in answer.shards:
            style = STATUS_STYLE.get(shard.status, "yellow")
            table.add_row(
                pid,
                answer.command,
                _shard(shard.shard),
                f"[{style}]{escape(shard.status)}[/]",
                "-" if shard.seq is None else str(shard.seq),
                _ms(shard.ping),
                str(shard.events),
                str(shard.resumes),
                _age(shard.uptime),
            )
    return table


def ping_table(processes: Sequence[ProcessPings | ProcessUnanswered]) -> Table:
    """Heartbeat round trips per shard, in ms."""
    table = Table(title="heartbeat round trips (ms)", title_justify="left")
    table.add_column("pid")
    table.add_column("shard")
    for name in ("last", "avg", "min", "p50", "p95", "max", "samples"):
        table.add_column(name, justify="right")
    for answer in processes:
        pid = str(answer.pid)
        if isinstance(answer, ProcessUnanswered):
            table.add_row(pid, f"[red]{escape(answer.error)}[/]")
            continue
        for shard in answer.shards:
            table.add_row(
                pid,
                _shard(shard.shard),
                *(_ms(v) for v in (shard.last, shard.avg, shard.min, shard.p50, shard.p95)),
                _ms(shard.max),
                str(shard.samples),
            )
    return table


def _shard(shard: tuple[int, int]) -> str:
    return f"{shard[0]}/{shard[1]}"


def gateway_table(info: dict[str, Any]) -> Table:
    """GET /gateway/bot."""
    limit = info["session_start_limit"]
    table = Table(title="GET /gateway/bot", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("url", str(info["url"]))
    table.add_row("shards (recommended)", str(info["shards"]))
    table.add_row("identifies remaining", f"{limit['remaining']} of {limit['total']}")
    table.add_row("limit resets in", _age(limit["reset_after"] / 1000))
    table.add_row("max_concurrency", str(limit["max_concurrency"]))
    return table
