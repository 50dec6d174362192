"""What a user watches per shard: the numbers behind the dashboard, `status` and `ping`.

A ShardMonitor listens to one Websocket's session actions and takes frozen snapshots
(birbctl.client.snapshot), so the renderer, the control socket and `--json` output all
read the same typed thing. Counts the session keeps (dispatches by name, resumes,
re-identifies, latency) are read from the session; the monitor keeps only what the
session does not know: wall-clock times, the events/s window, the ping history drawn
as a sparkline, the guild count of the last READY and the log of state changes, and for
`--metrics` the round-trip histogram, reconnects by reason and closes by code and side
(all counted on rare actions, never per dispatch; bytes only once `meter_bytes()`).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from birbctl.client.snapshot import PingSnapshot, ShardSnapshot, close_words
from birbctl.codec.packets import PacketReader
from birbctl.metrics.histogram import RoundTripHistogram
from birbctl.metrics.labels import close_code_label
from birbctl.metrics.sample import CLIENT, SERVER, ShardSample
from birbctl.protocol.events import (
    Action,
    CloseConnection,
    DispatchReceived,
    DropConnection,
    FatalClose,
    HeartbeatAcked,
    Level,
    Notice,
    OpenConnection,
    ProtocolViolation,
    Reconnecting,
    SendPayload,
    StatusChanged,
)
from birbctl.protocol.ratelimit import payload_size
from birbctl.protocol.status import GatewayStatus
from birbctl.protocol.wire import Compression, Encoding

#: Ping samples kept for the history sparkline.
PING_HISTORY = 120
#: State changes kept for the log panel.
LOG_LINES = 200
#: Window over which events/s is measured.
RATE_WINDOW = 10.0


@dataclass(frozen=True, slots=True)
class LogLine:
    at: float  # wall clock, unix seconds
    shard: int
    text: str
    level: Level


class ShardMonitor:
    """Recent history for one shard. `clock` is wall time (for display)."""

    def __init__(
        self,
        ws: Any,
        *,
        clock: Callable[[], float] = time.time,
        on_log: Callable[[LogLine], None] | None = None,
    ) -> None:
        self.ws = ws
        self.shard_id = ws.shard[0] if ws.shard is not None else 0
        self.clock = clock
        self.started = clock()
        self.pings: deque[float] = deque(maxlen=PING_HISTORY)
        self.last_ack_at: float | None = None
        self.log: deque[LogLine] = deque(maxlen=LOG_LINES)
        self._recent: deque[float] = deque()
        self._guilds_in_ready = 0
        self._on_log = on_log
        #: Whether this shard has been READY at least once: a run that never was is a
        #: failure, whatever happened after.
        self.reached_ready = False
        #: The latest reason the shard had to reconnect or lost its session, for the
        #: error that says why it never reached READY.
        self.last_trouble: str | None = None
        #: Every heartbeat round trip, in seconds (the metrics' histogram).
        self.rtt = RoundTripHistogram()
        self.reconnects: Counter[str] = Counter()
        #: Closes by (code label, side); see metrics.sample.ShardSample.closes.
        self.closes: Counter[tuple[str, str]] = Counter()
        #: How the last connection ended (`ShardSnapshot.last_close`).
        self.last_close: str | None = None
        self.decode_errors = 0
        #: Byte counts, once `meter_bytes()` asked for them (only `--metrics` does).
        self.bytes: ByteMeter | None = None
        self._ours = False  # the current connection's end is our close or drop
        self._ended = 0  # connections seen to end (opened and then closed)
        ws.add_listener(self._listen)

    @property
    def event_types(self) -> Mapping[str, int]:
        """Dispatches received by event name (the session's count)."""
        counts: Mapping[str, int] = self.ws.session.counters.dispatch_counts
        return counts

    def _listen(self, ws: Any, action: Action) -> None:
        del ws
        if isinstance(action, DispatchReceived):
            now = self.clock()
            if action.t == "READY" and isinstance(action.d, dict):
                guilds = action.d.get("guilds")
                self._guilds_in_ready = len(guilds) if isinstance(guilds, list) else 0
            recent = self._recent
            recent.append(now)
            while recent and recent[0] < now - RATE_WINDOW:
                recent.popleft()
            return
        if isinstance(action, HeartbeatAcked):
            self.last_ack_at = self.clock()
            if action.rtt_ms is not None:
                self.pings.append(action.rtt_ms)
                self.rtt.observe(action.rtt_ms / 1000)
        elif isinstance(action, SendPayload):
            if self.bytes is not None:
                self.bytes.sent += payload_size(action.data)
            return
        elif isinstance(action, StatusChanged):
            if action.new is GatewayStatus.READY:
                self.reached_ready = True
            self._count_ended()
        elif isinstance(action, Reconnecting):
            self.reconnects[action.reason.value] += 1
            self._count_ended()
        elif isinstance(action, FatalClose):
            self._count_ended()
        elif isinstance(action, CloseConnection | DropConnection):
            code = action.code if isinstance(action, CloseConnection) else None
            self.closes[close_code_label(code), CLIENT] += 1
            self.last_close = close_words(CLIENT, code)
            self._ours = True
        elif isinstance(action, OpenConnection):
            self._ours = False  # the last one's end has been counted (Reconnecting)
            return
        elif isinstance(action, ProtocolViolation) and action.message.startswith(
            "could not decode"
        ):
            self.decode_errors += 1
        if isinstance(action, Notice):
            trouble = action.trouble()
            if trouble is not None:
                self.last_trouble = trouble
            text = action.line()
            if text is not None:
                self._log(text, action.level)

    def _count_ended(self) -> None:
        """After the session moved on: if a connection ended that we did not close, the
        gateway closed it (or it was lost): count that close on the server's side."""
        session = self.ws.session
        counters = session.counters
        ended = counters.connections - counters.failed_connections
        if not session.is_closed:
            ended -= 1  # the current connection is open or opening
        if ended <= self._ended:
            return
        if self._ours:
            self._ours = False
        else:
            self.closes[close_code_label(session.last_close_code), SERVER] += 1
            self.last_close = close_words(SERVER, session.last_close_code)
        self._ended = ended

    def meter_bytes(self) -> None:
        """Count bytes received (as framed and as inflated) and sent from now on, over
        each new connection of the Websocket. Only `--metrics` asks, since sizing every
        payload sent is work the other views do not need."""
        if self.bytes is None:
            meter = self.bytes = ByteMeter()
            self.ws.make_reader = meter.reader

    def _log(self, text: str, level: Level) -> None:
        line = LogLine(self.clock(), self.shard_id, text, level)
        self.log.append(line)
        if self._on_log is not None:
            self._on_log(line)

    def events_per_second(self) -> float:
        now = self.clock()
        while self._recent and self._recent[0] < now - RATE_WINDOW:
            self._recent.popleft()
        span = min(RATE_WINDOW, max(now - self.started, 1e-9))
        return len(self._recent) / span

    def _shard(self) -> tuple[int, int]:
        shard = self.ws.shard
        return (int(shard[0]), int(shard[1])) if shard is not None else (0, 1)

    def snapshot(self) -> ShardSnapshot:
        """Everything `status` and the dashboard show about this shard, now."""
        session = self.ws.session
        counters = session.counters
        stats = session.latency_stats
        now = self.clock()
        return ShardSnapshot(
            shard=self._shard(),
            status=str(session.status.value),
            session_id=session.session_id,
            seq=session.sequence,
            ping=stats.last,
            ping_avg=stats.avg,
            last_ack_age=None if self.last_ack_at is None else now - self.last_ack_at,
            uptime=now - self.started,
            connections=self.ws.connection_number,
            resumes=counters.resumes,
            reidentifies=counters.reidentifies,
            events=counters.dispatches,
            events_per_s=self.events_per_second(),
            guilds_ready=self._guilds_in_ready - len(session.expected_guilds),
            guilds_expected=self._guilds_in_ready,
            url=self.ws.url,
            encoding=str(self.ws.encoding),
            compress=self.ws.compress.query_value,
            last_close=self.last_close,
        )

    def ping_snapshot(self) -> PingSnapshot:
        """`birbctl ping`: last, avg, min, p50, p95, max and sample count, in ms."""
        return PingSnapshot.of(self._shard(), self.ws.session.latency_stats, tuple(self.pings))

    def metrics_sample(self) -> ShardSample:
        """This shard as `--metrics` shows it: the snapshot and the metrics' own counts."""
        session = self.ws.session
        counters = session.counters
        interval = session.heartbeat_interval
        meter = self.bytes
        return ShardSample(
            snapshot=self.snapshot(),
            rtt=self.rtt.read(),
            heartbeat_interval=None if interval is None else interval / 1000,
            events=dict(counters.dispatch_counts),
            identifies=counters.identifies,
            resume_attempts=counters.resume_attempts,
            heartbeats_sent=counters.heartbeats_sent,
            heartbeats_acked=counters.heartbeats_acked,
            failed_connections=counters.failed_connections,
            reconnects=dict(self.reconnects),
            closes=dict(self.closes),
            decode_errors=self.decode_errors,
            protocol_errors=counters.protocol_violations,
            send_queue=session.pending_sends,
            limiter_waits=session.limiter_waits,
            received_wire_bytes=None if meter is None else meter.received,
            received_inflated_bytes=None if meter is None else meter.inflated,
            sent_bytes=None if meter is None else meter.sent,
        )

    def busiest(self, n: int = 8) -> list[tuple[str, int]]:
        counts = self.event_types
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


class ByteMeter:
    """Bytes received (as framed and as inflated) and sent, over all of a shard's
    connections. Each connection's reader counts what it reads (the count costs nothing
    measurable); this keeps the readers' totals as connections come and go."""

    __slots__ = ("_earlier_inflated", "_earlier_received", "_reader", "sent")

    def __init__(self) -> None:
        self._reader: PacketReader | None = None
        self._earlier_received = 0  # of the connections before the current one
        self._earlier_inflated = 0
        self.sent = 0

    def reader(self, encoding: Encoding, compress: Compression) -> PacketReader:
        """A new connection's reader (the Websocket's `make_reader`): from now on the
        connection before it reads nothing more (the Websocket stops reading it)."""
        if self._reader is not None:
            self._earlier_received += self._reader.received_bytes
            self._earlier_inflated += self._reader.inflated_bytes
        self._reader = PacketReader(encoding, compress)
        return self._reader

    @property
    def received(self) -> int:
        """Frames as they came over the wire."""
        reader = self._reader
        return self._earlier_received + (0 if reader is None else reader.received_bytes)

    @property
    def inflated(self) -> int:
        """The messages they made, once inflated."""
        reader = self._reader
        return self._earlier_inflated + (0 if reader is None else reader.inflated_bytes)
