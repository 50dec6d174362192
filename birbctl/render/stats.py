"""The `decode --stats` tables: totals, then counts by op and by event type."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table

from birbctl.capture.stats import PacketStats
from birbctl.render.packets import human_size


def _counts(title: str, label: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(label)
    table.add_column("count", justify="right")
    for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(key, f"{count:,}")
    return table


def stats_view(stats: PacketStats, *, skipped: int = 0) -> RenderableType:
    summary = Table(title="decode stats", title_justify="left", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    summary.add_row("messages", f"{stats.messages:,}")
    summary.add_row("received / sent", f"{stats.received:,} / {stats.sent:,}")
    summary.add_row("bytes on the wire", f"{stats.wire_bytes:,} ({human_size(stats.wire_bytes)})")
    summary.add_row(
        "bytes inflated", f"{stats.inflated_bytes:,} ({human_size(stats.inflated_bytes)})"
    )
    ratio = stats.ratio
    summary.add_row("compression ratio", f"{ratio:.2f}x" if ratio is not None else "-")
    span = stats.span
    summary.add_row("time span", f"{span:.3f} s" if span is not None else "-")
    if skipped:
        summary.add_row("skipped (undecodable)", f"{skipped:,}")
    parts: list[RenderableType] = [summary, _counts("by op", "op", stats.by_op)]
    if stats.by_event:
        parts.append(_counts("by event type", "event", stats.by_event))
    return Group(*parts)
