"""The live dashboard of `birbctl connect` and `demo`: shard status, ping history,
busiest events, a log of state changes, and keys that break sessions on purpose.

Rendering is a pure function of snapshot data (`render_dashboard`), so it is tested
as text at fixed widths; `DashboardView` only gathers the data, owns the terminal
(cbreak mode, restored whatever happens) and refreshes a rich Live with the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from urllib.parse import urlsplit

from rich import box
from rich.console import Console, Group, RenderableType
from rich.constrain import Constrain
from rich.live import Live
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from birbctl.protocol.opcodes import CLIENT_CLOSE_CODES_TEXT
from birbctl.render.console import make_console
from birbctl.render.keys import DEFAULT_CLOSE_CODE, Controls, KeyState, feed
from birbctl.render.sparkline import sparkline, window

if TYPE_CHECKING:
    from birbctl.client.monitor import LogLine
    from birbctl.client.snapshot import PingSnapshot, ShardSnapshot

#: Frames per second; a heartbeat is seconds apart, so more would only cost CPU.
REFRESH_PER_SECOND = 4.0
#: Event types listed in the busiest panel.
BUSIEST = 8
#: State-change lines shown (fewer when the terminal is short).
LOG_LINES = 8
#: A key's message stays this long in the footer.
MESSAGE_SECONDS = 6.0
#: Below this width, headers and status names are abbreviated.
COMPACT_BELOW = 100
#: From this width, ping history and busiest events sit side by side.
SIDE_BY_SIDE_FROM = 72
#: Gap between table columns (the box's blank vertical plus one cell of padding).
COLUMN_GAP = 2

STATUS_STYLE = {
    "ready": "bold green",
    "resuming": "yellow",
    "reconnecting": "yellow",
    "identifying": "yellow",
    "connecting": "yellow",
    "waiting_for_guilds": "yellow",
    "disconnected": "bold red",
    "idle": "dim",
}
STATUS_SHORT = {"waiting_for_guilds": "wait guilds"}
LEVEL_STYLE = {"info": "", "warn": "yellow", "error": "bold red"}


# --- formatting --------------------------------------------------------------------


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_duration(seconds: float | None) -> str:
    """12s, 3m04s, 1h02m: uptimes and ACK ages at a glance, never wider than 6."""
    if seconds is None:
        return "-"
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 100 * 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d"


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 10 else fmt_duration(seconds)


def status_text(status: str, *, compact: bool = False) -> Text:
    label = STATUS_SHORT.get(status, status) if compact else status
    return Text(label, style=STATUS_STYLE.get(status, ""))


# --- the status table --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    """A status-table column. `rank` orders what goes first when space runs out
    (highest rank first); the identity and health of a shard go last."""

    header: str
    short: str
    rank: int
    cell: Callable[[ShardSnapshot, bool], Text | str]
    right: bool = True
    #: Narrowest width (compact, wide), so a state change does not reflow the table.
    least: tuple[int, int] = (0, 0)


def _shard_cell(snap: ShardSnapshot, compact: bool) -> str:
    del compact
    shard_id, count = snap.shard
    return f"{shard_id}/{count}"


def _guilds_cell(snap: ShardSnapshot, compact: bool) -> Text:
    del compact
    ready, expected = snap.guilds_ready, snap.guilds_expected
    style = "green" if expected and ready >= expected else ("yellow" if expected else "")
    return Text(f"{ready}/{expected}", style=style)


def _ack_cell(snap: ShardSnapshot, compact: bool) -> Text:
    del compact
    age = snap.last_ack_age
    # A beat is due every interval; an ACK much older than that is a zombie in the making.
    return Text(fmt_age(age), style="red" if age is not None and age > 60 else "")


COLUMNS: tuple[_Column, ...] = (
    _Column("shard", "shard", 0, _shard_cell, right=False),
    _Column(
        "status",
        "status",
        0,
        lambda s, c: status_text(s.status, compact=c),
        right=False,
        least=(
            max(len(STATUS_SHORT.get(s, s)) for s in STATUS_STYLE),
            max(len(s) for s in STATUS_STYLE),
        ),
    ),
    _Column(
        "session",
        "session",
        4,
        lambda s, c: (s.session_id or "-")[:8],
        right=False,
        least=(8, 8),
    ),
    _Column("seq", "seq", 1, lambda s, c: "-" if s.seq is None else str(s.seq)),
    _Column("ping ms", "ping", 1, lambda s, c: fmt_ms(s.ping)),
    _Column("avg ms", "avg", 5, lambda s, c: fmt_ms(s.ping_avg)),
    _Column("last ack", "ack", 6, _ack_cell),
    _Column("uptime", "up", 9, lambda s, c: fmt_duration(s.uptime)),
    _Column("resumes", "res", 7, lambda s, c: str(s.resumes)),
    _Column("re-ids", "reid", 7, lambda s, c: str(s.reidentifies)),
    _Column("events", "events", 8, lambda s, c: f"{s.events:,}"),
    _Column("ev/s", "ev/s", 2, lambda s, c: f"{s.events_per_s:.1f}"),
    _Column("guilds", "guilds", 3, _guilds_cell),
    _Column("last close", "closed", 10, lambda s, c: s.last_close or "-", right=False),
)


def _cell_len(cell: Text | str) -> int:
    return cell.cell_len if isinstance(cell, Text) else Text(cell).cell_len


def status_table(
    snapshots: Sequence[ShardSnapshot], *, width: int, selected: int | None = None
) -> Table:
    """One row per shard; columns are dropped by rank until the table fits `width`,
    so an 80-column terminal gets fewer columns instead of wrapped cells."""
    compact = width < COMPACT_BELOW
    cells = [[col.cell(snap, compact) for snap in snapshots] for col in COLUMNS]
    widths = [
        max(
            [len(col.short if compact else col.header), col.least[0 if compact else 1]]
            + [_cell_len(c) for c in column]
        )
        for col, column in zip(COLUMNS, cells, strict=True)
    ]
    shown = list(range(len(COLUMNS)))
    marker = 1  # the selection mark before the shard id

    def total() -> int:
        return marker + sum(widths[i] for i in shown) + COLUMN_GAP * (len(shown) - 1)

    for rank in sorted({c.rank for c in COLUMNS if c.rank > 0}, reverse=True):
        if total() <= width:
            break
        shown = [i for i in shown if COLUMNS[i].rank != rank]
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        header_style="bold",
        border_style="dim",
    )
    for i in shown:
        col = COLUMNS[i]
        table.add_column(
            col.short if compact else col.header,
            justify="right" if col.right else "left",
            min_width=col.least[0 if compact else 1] or None,
            no_wrap=True,
            overflow="ellipsis",
        )
    for row, snap in enumerate(snapshots):
        values: list[Text | str] = []
        for i in shown:
            value = cells[i][row]
            if i == 0:
                mark = "▸" if selected is not None and snap.shard_id == selected else " "
                value = mark + str(value)
            values.append(value)
        table.add_row(*values)
    return table


# --- ping history, busiest events, log ---------------------------------------------


def ping_history(ping_tables: Sequence[PingSnapshot], *, width: int) -> list[Text]:
    """A sparkline per shard, scaled to the pings it shows, with their min and max;
    the p50/p95/sample line under it while there are few shards and room for it."""
    lines: list[Text] = []
    id_width = max((len(str(t.shard_id)) for t in ping_tables), default=1)
    labels: list[str] = []
    for table in ping_tables:
        history = table.history
        labels.append(f"{fmt_ms(min(history))}-{fmt_ms(max(history))}" if history else "")
    label_width = max((len(x) for x in labels), default=0)
    spark_width = max(4, width - id_width - 2 - label_width)
    detail = len(ping_tables) <= 3
    for table in ping_tables:
        sid = str(table.shard_id).rjust(id_width)
        history = table.history
        line = Text(f"{sid} ")
        if not history:
            line.append("waiting for the first heartbeat ACK", style="dim")
        else:
            shown = window(history, spark_width)
            line.append(sparkline(shown).ljust(spark_width), style="cyan")
            line.append(" ")
            line.append(f"{fmt_ms(min(shown))}-{fmt_ms(max(shown))}".rjust(label_width))
        lines.append(line)
        if detail and history:
            lines.append(
                Text(
                    " " * (id_width + 1)
                    + f"p50 {fmt_ms(table.p50)}  p95 {fmt_ms(table.p95)}"
                    + f"  max {fmt_ms(table.max)}  n {table.samples}",
                    style="dim",
                )
            )
    return lines


def busiest_table(busiest: Sequence[tuple[str, int]]) -> Table:
    table = Table.grid(padding=(0, 1, 0, 0), expand=True)
    table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column(justify="right", no_wrap=True)
    for name, count in busiest[:BUSIEST]:
        table.add_row(name, f"{count:,}")
    if not busiest:
        table.add_row(Text("no dispatches yet", style="dim"), "")
    return table


def log_table(logs: Sequence[LogLine], *, lines: int) -> Table:
    """Newest last, one line each (cut with an ellipsis rather than wrapped)."""
    table = Table.grid(padding=(0, 1, 0, 0), expand=True)
    table.add_column(no_wrap=True, style="dim")
    table.add_column(no_wrap=True, justify="right")
    table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    for line in list(logs)[-lines:] if lines > 0 else []:
        stamp = time.strftime("%H:%M:%S", time.localtime(line.at))
        shard = f"#{line.shard}" if line.shard >= 0 else ""  # -1: no shard (the proxy's)
        table.add_row(stamp, shard, Text(line.text, style=LEVEL_STYLE.get(line.level, "")))
    if not logs:
        table.add_row("", "", Text("no state changes yet", style="dim"))
    return table


# --- header and footer -------------------------------------------------------------


def header_line(snapshots: Sequence[ShardSnapshot], *, width: int, selected: int | None) -> Text:
    """Shards ready, transport, uptime, host and the key target; the least useful
    parts (host, then transport) are left out when the line would not fit."""
    count = snapshots[0].shard[1] if snapshots else 0
    ready = sum(1 for s in snapshots if s.status == "ready")
    parts: list[tuple[int, Text]] = [  # (rank: dropped highest first, text)
        (0, Text("birbctl", style="bold")),
        (
            0,
            Text(
                f"{ready}/{len(snapshots)} shards ready",
                style="green" if ready == len(snapshots) else "yellow",
            ),
        ),
    ]
    if len(snapshots) != count:
        parts.append(
            (0, Text(f"(shards {','.join(str(s.shard_id) for s in snapshots)} of {count})"))
        )
    if snapshots:
        first = snapshots[0]
        transport = first.encoding
        if first.compress:
            transport += f" {first.compress}"
        uptime = max(s.uptime for s in snapshots)
        parts.append((2, Text(transport)))
        parts.append((1, Text(f"up {fmt_duration(uptime)}")))
        host = urlsplit(first.url).netloc
        if host:
            parts.append((3, Text(host, style="dim")))
    if len(snapshots) > 1:
        target = "all shards" if selected is None else f"shard {selected}"
        parts.append(
            (0, Text(f"keys act on {target}", style="bold" if selected is not None else ""))
        )
    for rank in (3, 2, 1):
        if sum(t.cell_len for _, t in parts) + 2 * (len(parts) - 1) <= width:
            break
        parts = [(r, t) for r, t in parts if r != rank]
    text = Text("  ").join(t for _, t in parts)
    text.truncate(width, overflow="ellipsis")
    return text


#: (key, long label, short label): the footer, and the test that every key is listed.
KEYS: tuple[tuple[str, str, str], ...] = (
    ("r", "reconnect+resume", "resume"),
    ("R", "reconnect+identify", "re-identify"),
    ("t", "terminate (drop socket)", "terminate"),
    ("c", "close with code", "close"),
    ("q", "quit", "quit"),
)


def footer_line(
    *,
    width: int,
    shard_ids: Sequence[int],
    prompt: str | None,
    keys: bool = True,
    selected: int | None = None,
    ended: bool = False,
) -> Text:
    """The keys, or the close-code prompt while one is open."""
    if ended:
        return Text("stopped", style="dim")
    if not keys:
        return Text("stdin is not a terminal: no keys; Ctrl-C to quit", style="dim")
    if prompt is not None:
        target = "all shards" if selected is None else f"shard {selected}"
        text = Text(f"close {target} with code: ", style="bold")
        if prompt:
            text.append(prompt, style="bold reverse")
        else:
            text.append(str(DEFAULT_CLOSE_CODE), style="dim reverse")
        text.append(f"  Enter closes, Esc cancels ({CLIENT_CLOSE_CODES_TEXT})", style="dim")
        text.truncate(width, overflow="ellipsis")
        return text
    long = width >= COMPACT_BELOW + 10
    text = Text()
    for key, label, short in KEYS:
        if text:
            text.append("  ")
        text.append(key, style="bold cyan")
        text.append(f" {label if long else short}")
    if len(shard_ids) > 1:
        digits = f"{min(shard_ids)}-{max(shard_ids)}"
        text.append("  ")
        text.append(digits, style="bold cyan")
        text.append(" select shard" if long else " shard")
    text.truncate(width, overflow="ellipsis")
    return text


# --- the whole frame ---------------------------------------------------------------


def render_dashboard(
    snapshots: Sequence[ShardSnapshot],
    ping_tables: Sequence[PingSnapshot],
    busiest: Sequence[tuple[str, int]],
    logs: Sequence[LogLine],
    *,
    width: int,
    selected: int | None = None,
    prompt: str | None = None,
    message: str | None = None,
    keys: bool = True,
    height: int | None = None,
    ended: bool = False,
) -> RenderableType:
    """One frame from the snapshots (what ShardManager.snapshots() and friends return).

    `height`, when known, trims the log so the frame fits the terminal: rich Live
    cannot scroll, and a frame taller than the screen is cut at the bottom, where the
    keys are.
    """
    shard_ids = [s.shard_id for s in snapshots]
    if selected not in shard_ids:
        selected = None
    parts: list[RenderableType] = [
        header_line(snapshots, width=width, selected=selected),
        status_table(snapshots, width=width, selected=selected),
    ]
    side = width >= SIDE_BY_SIDE_FROM
    busy_width = min(40, max(26, width // 3)) if side else width
    ping_width = width - busy_width - COLUMN_GAP if side else width
    ping_lines = ping_history(ping_tables, width=ping_width)
    ping_part = Group(_rule("ping history, ms"), *ping_lines)
    busy_part = Group(_rule("busiest events"), busiest_table(busiest))
    if side:
        grid = Table.grid(padding=(0, COLUMN_GAP, 0, 0))
        grid.add_column(width=ping_width)
        grid.add_column(width=busy_width)
        grid.add_row(ping_part, busy_part)
        parts.append(grid)
        middle = max(len(ping_lines), min(BUSIEST, max(1, len(busiest)))) + 1
    else:
        parts.extend([ping_part, busy_part])
        middle = len(ping_lines) + min(BUSIEST, max(1, len(busiest))) + 2
    log_lines = LOG_LINES
    if height is not None:
        used = 1 + (len(snapshots) + 2) + middle + 1 + 2  # header, table, middle, rule, footer
        log_lines = max(2, min(LOG_LINES, height - used - 1))
    parts.append(_rule("state changes"))
    parts.append(log_table(logs, lines=log_lines))
    parts.append(Text(message or "", style="italic", no_wrap=True, overflow="ellipsis"))
    parts.append(
        footer_line(
            width=width,
            shard_ids=shard_ids,
            prompt=prompt,
            keys=keys,
            selected=selected,
            ended=ended,
        )
    )
    return Constrain(Group(*parts), width=width)


def summary_lines(snapshots: Iterable[ShardSnapshot], stamp: str) -> list[str]:
    """The closing lines under the last frame, short enough for 80 columns."""
    return [f"{stamp} shard {snap.shard_id}: {snap.summary()}" for snap in snapshots]


def _rule(title: str) -> Rule:
    return Rule(Text(title, style="bold"), align="left", style="dim", characters="─")


def busiest_across(
    counters: Iterable[Mapping[str, int]], n: int = BUSIEST
) -> list[tuple[str, int]]:
    """Event counts summed over shards: the busiest types of the whole bot."""
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


# --- the view ----------------------------------------------------------------------


class Board(Controls, Protocol):
    """What the dashboard reads and its keys drive: a ShardManager's shards, or a
    proxy's bot connections as shards (proxy/control.py ProxyBoard)."""

    def snapshots(self) -> list[ShardSnapshot]: ...

    def ping_snapshots(self) -> list[PingSnapshot]: ...

    def event_counts(self) -> list[Mapping[str, int]]: ...

    def logs(self) -> Sequence[LogLine]: ...

    def shard_ids(self) -> list[int]: ...


class DashboardView:
    """The terminal View of runner.run_connect: Live frames plus keys from stdin."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        stdin: TextIO | None = None,
        refresh_per_second: float = REFRESH_PER_SECOND,
    ) -> None:
        self.console = console or make_console()
        self.stdin = stdin if stdin is not None else sys.stdin
        self.period = 1.0 / refresh_per_second
        self.keys = KeyState()
        self._message_at = 0.0
        self._live: Live | None = None
        self._manager: Board | None = None
        self._stop: asyncio.Event | None = None
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        self._reading = False
        self._keys_on = False  # stdin was a terminal and is read for keys

    def attach(self, manager: Board) -> None:
        self._manager = manager

    # -- frames --

    def frame(self, manager: Board, *, ended: bool = False) -> RenderableType:
        if self.keys.message and time.monotonic() - self._message_at > MESSAGE_SECONDS:
            self.keys = KeyState(self.keys.selected, self.keys.prompt, None, self.keys.quit)
        return render_dashboard(
            manager.snapshots(),
            manager.ping_snapshots(),
            busiest_across(manager.event_counts()),
            manager.logs(),
            width=self.console.width,
            height=self.console.height,
            selected=self.keys.selected,
            prompt=self.keys.prompt,
            message=self.keys.message,
            keys=self._keys_on,
            ended=ended,
        )

    def _refresh(self) -> None:
        if self._live is not None and self._manager is not None:
            self._live.update(self.frame(self._manager), refresh=True)

    # -- keys --

    def _raw_input(self) -> bool:
        """cbreak mode on stdin (keys arrive one by one, unechoed; Ctrl-C still
        signals). Leaves the terminal alone when stdin is not one."""
        import termios
        import tty

        try:
            fd = self.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return False
        if not os.isatty(fd):
            return False
        try:
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd, termios.TCSANOW)
        except termios.error:
            self._saved = None
            return False
        self._fd = fd
        self._keys_on = True
        return True

    def _restore_terminal(self) -> None:
        """Idempotent: called from run()'s finally and again from finish()."""
        if self._fd is None or self._saved is None:
            return
        import termios

        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._saved = None

    def _on_input(self) -> None:
        if self._fd is None or self._manager is None:
            return
        try:
            data = os.read(self._fd, 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # end of input: no more keys, the dashboard goes on
            self._stop_reading()
            return
        before = self.keys.message
        self.keys = feed(self.keys, data, self._manager, self._manager.shard_ids())
        if self.keys.message != before:
            self._message_at = time.monotonic()
        if self.keys.quit and self._stop is not None:
            self._stop.set()
        self._refresh()

    def _stop_reading(self) -> None:
        if self._reading and self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
        self._reading = False

    # -- the View protocol --

    async def run(self, manager: Board, stop: asyncio.Event) -> None:
        self._manager = manager
        self._stop = stop
        loop = asyncio.get_running_loop()
        finished = False
        try:
            if self._raw_input() and self._fd is not None:
                loop.add_reader(self._fd, self._on_input)
                self._reading = True
            self._live = Live(
                self.frame(manager),
                console=self.console,
                auto_refresh=False,  # frames are drawn from the event loop, never a thread
                transient=False,
                screen=False,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._live.start(refresh=True)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.period):
                        await stop.wait()
                self._refresh()
            finished = True
        finally:
            self._stop_reading()
            self._restore_terminal()
            if not finished:  # cancelled or failed: finish() may never come
                self._stop_live()

    def _stop_live(self) -> None:
        if self._live is not None:
            with contextlib.suppress(Exception):
                self._live.stop()
            self._live = None

    def finish(self, manager: Board) -> None:
        """The last frame (shards closed by now) stays on screen, then a summary."""
        try:
            if self._live is not None:
                self.keys = KeyState(self.keys.selected, None, None, self.keys.quit)
                self._live.update(self.frame(manager, ended=True), refresh=True)
        finally:
            self._stop_live()
            self._restore_terminal()
        for line in summary_lines(manager.snapshots(), time.strftime("%H:%M:%S")):
            self.console.print(Text(line), soft_wrap=True)
