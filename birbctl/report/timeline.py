"""A recorded session as a timeline: what `birbctl report` draws, computed without drawing.

Fed a capture's records in file order (an `Opened` or `Closed` line, or a decoded
`Message`), `TimelineBuilder` keeps only what the page shows: each connection's span and
how it began and ended, the marks worth seeing (op 7, op 9, IDENTIFY, RESUME, READY,
RESUMED), heartbeat round trips, dispatches per second by type, and the gaps where a
shard was down with how long it took to be back. No payload content is kept but opcodes
and event names, so nothing secret can reach the page. Pure: no I/O, no plotting, no
clock; the tests feed it hand-built sequences.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from birbctl.capture.message import Message
from birbctl.protocol.latency import LatencyTracker
from birbctl.protocol.opcodes import Opcode

Shard = tuple[int, int] | None

#: How a connection ended, as the page says it. A capture's close line is "send" when
#: birbctl closed (or dropped) the connection and "recv" when the server did; a "recv"
#: close without a code is the network losing it.
CLIENT, SERVER, DROPPED, STILL_OPEN = "client", "server", "dropped", "open"

#: Event types drawn by name; the rest are summed as OTHER (hostile captures can invent
#: any number of names, and a legend of thousands helps nobody).
MAX_TYPES = 12
OTHER = "other"
#: Distinct names counted one by one while reading; later names go straight to OTHER.
_MAX_TRACKED_TYPES = 256
#: At most this many rate bins, whatever the capture's length: bins widen instead.
MAX_BINS = 3600
#: Close reasons are shown, not trusted: cut to this many characters.
MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class Opened:
    """A capture's `open` line: connection `conn` started (its own inflate context)."""

    t: float
    conn: int
    shard: Shard = None


@dataclass(frozen=True, slots=True)
class Closed:
    """A capture's `close` line: `direction` "send" (birbctl closed) or "recv" (the server
    or the network); `code` None when no close frame was exchanged."""

    t: float
    conn: int
    direction: str
    code: int | None
    reason: str = ""


Record = Opened | Closed | Message


@dataclass(slots=True)
class Connection:
    """One websocket connection, times in seconds since the capture's first record."""

    conn: int
    shard: Shard
    opened: float
    closed: float | None = None  # None: still open when the capture ends
    code: int | None = None
    side: str = STILL_OPEN
    reason: str = ""
    began: str | None = None  # "identify" or "resume": what birbctl sent first
    ready: float | None = None  # when READY or RESUMED arrived on it
    ready_as: str | None = None  # "READY" or "RESUMED"
    events: int = 0  # dispatches received on it
    open_line: bool = True  # False: the capture starts inside this connection


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment worth a symbol: `kind` is reconnect (op 7), invalid_session (op 9),
    identify, resume, ready or resumed."""

    t: float
    conn: int
    shard: Shard
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class PingSample:
    """A heartbeat round trip: op 1 sent at `t - ms/1000`, its op 11 received at `t`."""

    t: float
    conn: int
    shard: Shard
    ms: float


@dataclass(frozen=True, slots=True)
class Recovery:
    """A shard down from a close (`down`) to its next READY or RESUMED (`up`).

    `up` None: the shard tried again but was not back by the end of the capture."""

    shard: Shard
    conn: int  # the connection whose close began it
    code: int | None
    side: str
    down: float
    up: float | None
    via: str | None  # "READY" (a new session) or "RESUMED"

    @property
    def seconds(self) -> float | None:
        return None if self.up is None else round(self.up - self.down, 6)


@dataclass(frozen=True, slots=True)
class Rates:
    """Dispatches per second by event type, in bins of `width` seconds from the start."""

    width: float
    starts: list[float]
    by_type: dict[str, list[float]]


@dataclass(frozen=True, slots=True)
class Summary:
    connections: int
    duration: float
    events: int  # dispatches received
    resumes: int  # RESUMEs sent
    resumed: int  # RESUMED received
    reidentifies: int  # IDENTIFYs after a shard's first
    closes: dict[str, int]  # close code ("none": no close frame) -> count
    ping_samples: int
    ping_p50: float | None
    ping_p95: float | None
    ping_max: float | None
    longest_recovery: float | None
    unrecovered: int  # gaps still open at the end of the capture


@dataclass(frozen=True, slots=True)
class Timeline:
    start: float  # unix seconds of the first record; every other time is relative to it
    end: float
    shards: list[Shard]
    connections: list[Connection]
    marks: list[Mark]
    pings: list[PingSample]
    rates: Rates
    recoveries: list[Recovery]
    summary: Summary
    events_by_type: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The model as plain JSON (the page embeds it, so tests and tools can read it)."""

        def shard(value: Shard) -> list[int] | None:
            return None if value is None else list(value)

        return {
            "start": self.start,
            "end": self.end,
            "shards": [shard(s) for s in self.shards],
            "connections": [
                {
                    "conn": c.conn,
                    "shard": shard(c.shard),
                    "opened": c.opened,
                    "closed": c.closed,
                    "code": c.code,
                    "side": c.side,
                    "reason": c.reason,
                    "began": c.began,
                    "ready": c.ready,
                    "ready_as": c.ready_as,
                    "events": c.events,
                    "open_line": c.open_line,
                }
                for c in self.connections
            ],
            "marks": [
                {
                    "t": m.t,
                    "conn": m.conn,
                    "shard": shard(m.shard),
                    "kind": m.kind,
                    "label": m.label,
                }
                for m in self.marks
            ],
            "pings": [
                {"t": p.t, "conn": p.conn, "shard": shard(p.shard), "ms": p.ms} for p in self.pings
            ],
            "rates": {
                "width": self.rates.width,
                "starts": self.rates.starts,
                "by_type": self.rates.by_type,
            },
            "recoveries": [
                {
                    "shard": shard(r.shard),
                    "conn": r.conn,
                    "code": r.code,
                    "side": r.side,
                    "down": r.down,
                    "up": r.up,
                    "via": r.via,
                    "seconds": r.seconds,
                }
                for r in self.recoveries
            ],
            "summary": {
                "connections": self.summary.connections,
                "duration": self.summary.duration,
                "events": self.summary.events,
                "resumes": self.summary.resumes,
                "resumed": self.summary.resumed,
                "reidentifies": self.summary.reidentifies,
                "closes": self.summary.closes,
                "ping_samples": self.summary.ping_samples,
                "ping_p50": self.summary.ping_p50,
                "ping_p95": self.summary.ping_p95,
                "ping_max": self.summary.ping_max,
                "longest_recovery": self.summary.longest_recovery,
                "unrecovered": self.summary.unrecovered,
            },
            "events_by_type": self.events_by_type,
        }


def close_side(direction: str, code: int | None) -> str:
    """Who ended a connection, from its close line: birbctl (even without a close frame,
    as a terminate does), the server, or nobody (the connection was lost)."""
    if direction == "send":
        return CLIENT
    return SERVER if code is not None else DROPPED


@dataclass(slots=True)
class _Down:
    conn: int
    code: int | None
    side: str
    t: float
    retried: bool = False  # a connection of the shard opened since


class TimelineBuilder:
    """Collects records in file order; `finish()` gives the Timeline. Times stay absolute
    until then (a capture's clock may step back; the earliest record is the start)."""

    def __init__(self) -> None:
        self._first: float | None = None
        self._last: float | None = None
        self._conns: dict[int, Connection] = {}  # by number, in the order first seen
        self._replaced: list[Connection] = []
        self._marks: list[Mark] = []
        self._pings: list[PingSample] = []
        self._beats: dict[int, float] = {}  # conn -> when its unanswered op 1 went out
        self._counts: Counter[tuple[str, int]] = Counter()  # (type, whole second) -> events
        self._types: Counter[str] = Counter()
        self._identified: set[Shard] = set()
        self._reidentifies = 0
        self._resumes = 0
        self._resumed = 0
        self._down: dict[Shard, _Down] = {}
        self._recoveries: list[Recovery] = []

    def add(self, record: Record) -> None:
        if isinstance(record, Message):
            self.message(record)
        elif isinstance(record, Opened):
            self.opened(record)
        else:
            self.closed(record)

    def feed(self, records: Iterable[Record]) -> TimelineBuilder:
        for record in records:
            self.add(record)
        return self

    def opened(self, record: Opened) -> None:
        self._seen(record.t)
        # A reused number (two captures joined) starts a new span: keep the old one.
        old = self._conns.pop(record.conn, None)
        if old is not None:
            self._replaced.append(old)
        self._conns[record.conn] = Connection(record.conn, record.shard, record.t)
        self._beats.pop(record.conn, None)
        down = self._down.get(record.shard)
        if down is not None:
            down.retried = True

    def closed(self, record: Closed) -> None:
        self._seen(record.t)
        conn = self._connection(record.conn, record.t, None)
        if conn.closed is not None:
            return  # one close per connection; a second line changes nothing
        conn.closed = record.t
        conn.code = record.code
        conn.side = close_side(record.direction, record.code)
        conn.reason = record.reason[:MAX_REASON]
        self._beats.pop(record.conn, None)
        if conn.shard not in self._down:
            self._down[conn.shard] = _Down(conn.conn, conn.code, conn.side, record.t)

    def message(self, message: Message) -> None:
        ts = message.ts
        if ts is None or message.conn is None:
            return
        self._seen(ts)
        conn = self._connection(message.conn, ts, message.shard)
        op = message.op
        if message.direction == "send":
            if op == Opcode.HEARTBEAT:
                self._beats[conn.conn] = ts
            elif op == Opcode.IDENTIFY:
                conn.began = conn.began or "identify"
                if conn.shard in self._identified:
                    self._reidentifies += 1
                self._identified.add(conn.shard)
                self._mark(ts, conn, "identify", "IDENTIFY sent")
            elif op == Opcode.RESUME:
                conn.began = conn.began or "resume"
                self._resumes += 1
                self._mark(ts, conn, "resume", "RESUME sent")
            return
        if op == Opcode.DISPATCH:
            name = message.t or "?"
            conn.events += 1
            if name not in self._types and len(self._types) >= _MAX_TRACKED_TYPES:
                name = OTHER
            self._types[name] += 1
            self._counts[name, math.floor(ts)] += 1
            if name in ("READY", "RESUMED"):
                self._up(ts, conn, name)
        elif op == Opcode.HEARTBEAT_ACK:
            sent = self._beats.pop(conn.conn, None)
            if sent is not None and ts >= sent:
                self._pings.append(PingSample(ts, conn.conn, conn.shard, (ts - sent) * 1000))
        elif op == Opcode.RECONNECT:
            self._mark(ts, conn, "reconnect", "op 7 RECONNECT")
        elif op == Opcode.INVALID_SESSION:
            payload = message.payload
            resumable = payload.get("d") is True if isinstance(payload, dict) else False
            what = "resumable" if resumable else "not resumable"
            self._mark(ts, conn, "invalid_session", f"op 9 INVALID_SESSION ({what})")

    def _up(self, ts: float, conn: Connection, name: str) -> None:
        if name == "RESUMED":
            self._resumed += 1
        self._mark(ts, conn, name.lower(), name)
        if conn.ready is None:
            conn.ready, conn.ready_as = ts, name
        down = self._down.pop(conn.shard, None)
        if down is not None:
            self._recoveries.append(
                Recovery(conn.shard, down.conn, down.code, down.side, down.t, ts, name)
            )

    def _mark(self, ts: float, conn: Connection, kind: str, label: str) -> None:
        self._marks.append(Mark(ts, conn.conn, conn.shard, kind, label))

    def _connection(self, number: int, ts: float, shard: Shard) -> Connection:
        """The connection `number`; one the capture started inside of begins at `ts`."""
        conn = self._conns.get(number)
        if conn is None:
            conn = self._conns[number] = Connection(number, shard, ts, open_line=False)
        return conn

    def _seen(self, ts: float) -> None:
        if self._first is None or ts < self._first:
            self._first = ts
        if self._last is None or ts > self._last:
            self._last = ts

    def finish(self) -> Timeline:
        start = self._first if self._first is not None else 0.0
        end = self._last if self._last is not None else start
        duration = end - start

        def rel(t: float) -> float:
            return round(t - start, 6)

        def rel_or_none(t: float | None) -> float | None:
            return None if t is None else rel(t)

        conns = sorted([*self._replaced, *self._conns.values()], key=lambda c: (c.opened, c.conn))
        for c in conns:
            c.opened = rel(c.opened)
            c.closed = rel_or_none(c.closed)
            c.ready = rel_or_none(c.ready)
        recoveries = [
            Recovery(r.shard, r.conn, r.code, r.side, rel(r.down), rel_or_none(r.up), r.via)
            for r in self._recoveries
        ]
        # Down at the end: a gap only if the shard tried again (else the session simply
        # ended there, as every capture does).
        recoveries += [
            Recovery(shard, d.conn, d.code, d.side, rel(d.t), None, None)
            for shard, d in self._down.items()
            if d.retried
        ]
        recoveries.sort(key=lambda r: r.down)
        marks = [Mark(rel(m.t), m.conn, m.shard, m.kind, m.label) for m in self._marks]
        pings = [PingSample(rel(p.t), p.conn, p.shard, round(p.ms, 3)) for p in self._pings]
        rates, by_type = self._rates(start, duration)
        closes: Counter[str] = Counter(
            "none" if c.code is None else str(c.code) for c in conns if c.closed is not None
        )
        stats = _ping_stats([p.ms for p in self._pings])
        done = [r.seconds for r in recoveries if r.seconds is not None]
        summary = Summary(
            connections=len(conns),
            duration=round(duration, 6),
            events=sum(self._types.values()),
            resumes=self._resumes,
            resumed=self._resumed,
            reidentifies=self._reidentifies,
            closes=dict(closes.most_common()),
            ping_samples=len(self._pings),
            ping_p50=stats[0],
            ping_p95=stats[1],
            ping_max=stats[2],
            longest_recovery=round(max(done), 6) if done else None,
            unrecovered=sum(1 for r in recoveries if r.up is None),
        )
        shards = sorted({c.shard for c in conns}, key=lambda s: (-1, -1) if s is None else s)
        return Timeline(
            start=start,
            end=end,
            shards=shards,
            connections=conns,
            marks=marks,
            pings=pings,
            rates=rates,
            recoveries=recoveries,
            summary=summary,
            events_by_type=by_type,
        )

    def _rates(self, start: float, duration: float) -> tuple[Rates, dict[str, int]]:
        """Per-second counts regrouped into at most MAX_BINS bins, the top types by name."""
        width = float(max(1, math.ceil(duration / MAX_BINS)))
        first = math.floor(start)
        bins = int((math.floor(start + duration) - first) // width) + 1 if self._types else 0
        top = [name for name, _ in self._types.most_common(MAX_TYPES)]
        shown = set(top)
        by_type = {name: [0.0] * bins for name in top}
        if len(self._types) > len(top):
            by_type.setdefault(OTHER, [0.0] * bins)
        for (name, second), count in self._counts.items():
            row = by_type[name if name in shown else OTHER]
            index = min(bins - 1, max(0, int((second - first) // width)))
            row[index] += count / width
        starts = [round(first + i * width - start, 6) for i in range(bins)]
        totals = dict(self._types.most_common(MAX_TYPES))
        rest = sum(self._types.values()) - sum(totals.values())
        if rest:
            totals[OTHER] = totals.get(OTHER, 0) + rest
        return Rates(width, starts, by_type), totals


def _ping_stats(samples: list[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p95 and max as the live ping table computes them (nearest rank)."""
    if not samples:
        return None, None, None
    tracker = LatencyTracker(history=len(samples))
    for ms in samples:
        tracker.record(ms)
    stats = tracker.stats()
    return (
        None if stats.p50 is None else round(stats.p50, 3),
        None if stats.p95 is None else round(stats.p95, 3),
        None if stats.max is None else round(stats.max, 3),
    )


def build_timeline(records: Iterable[Record]) -> Timeline:
    return TimelineBuilder().feed(records).finish()
