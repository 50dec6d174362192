"""Tables for `birbctl status`, `ping` and `gateway`: rich renderables from plain data."""

from __future__ import annotations

from typing import Any

from rich.table import Table

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


def status_table(processes: list[dict[str, Any]]) -> Table:
    """One row per shard of each running birbctl process."""
    table = Table(title="running birbctl processes", title_justify="left")
    for name in ("pid", "cmd", "shard", "status", "seq", "ping", "events", "resumes", "uptime"):
        table.add_column(
            name, justify="right" if name in ("seq", "ping", "events", "resumes") else "left"
        )
    for answer in processes:
        pid = str(answer.get("pid", "?"))
        if not answer.get("ok"):
            table.add_row(pid, "-", "-", f"[red]{answer.get('error', 'no answer')}[/]")
            continue
        for shard in answer.get("shards", []):
            status = str(shard["status"])
            style = STATUS_STYLE.get(status, "yellow")
            table.add_row(
                pid,
                str(answer.get("command", "")),
                "/".join(str(x) for x in shard["shard"]),
                f"[{style}]{status}[/]",
                "-" if shard["seq"] is None else str(shard["seq"]),
                _ms(shard["ping"]),
                str(shard["events"]),
                str(shard["resumes"]),
                _age(shard["uptime"]),
            )
    return table


def ping_table(processes: list[dict[str, Any]]) -> Table:
    """Heartbeat round trips per shard, in ms."""
    table = Table(title="heartbeat round trips (ms)", title_justify="left")
    table.add_column("pid")
    table.add_column("shard")
    for name in ("last", "avg", "min", "p50", "p95", "max", "samples"):
        table.add_column(name, justify="right")
    for answer in processes:
        pid = str(answer.get("pid", "?"))
        if not answer.get("ok"):
            table.add_row(pid, f"[red]{answer.get('error', 'no answer')}[/]")
            continue
        for shard in answer.get("shards", []):
            table.add_row(
                pid,
                "/".join(str(x) for x in shard["shard"]),
                *(_ms(shard[k]) for k in ("last", "avg", "min", "p50", "p95", "max")),
                str(shard["samples"]),
            )
    return table


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
