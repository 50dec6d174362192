"""What a user watches per shard: the numbers behind the dashboard, `status` and `ping`.

A ShardMonitor listens to one Websocket's session actions and takes frozen snapshots
(birbctl.client.snapshot), so the renderer, the control socket and `--json` output all
read the same typed thing. Counts the session keeps (dispatches by name, resumes,
re-identifies, latency) are read from the session; the monitor keeps only what the
session does not know: wall-clock times, the events/s window, the ping history drawn
as a sparkline, the guild count of the last READY and the log of state changes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from birbctl.client.snapshot import PingSnapshot, ShardSnapshot
from birbctl.protocol.events import (
    Action,
    DispatchReceived,
    HeartbeatAcked,
    Level,
    Notice,
    StatusChanged,
)
from birbctl.protocol.status import GatewayStatus

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
        elif isinstance(action, StatusChanged) and action.new is GatewayStatus.READY:
            self.reached_ready = True
        if isinstance(action, Notice):
            trouble = action.trouble()
            if trouble is not None:
                self.last_trouble = trouble
            text = action.line()
            if text is not None:
                self._log(text, action.level)

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
        )

    def ping_snapshot(self) -> PingSnapshot:
        """`birbctl ping`: last, avg, min, p50, p95, max and sample count, in ms."""
        return PingSnapshot.of(self._shard(), self.ws.session.latency_stats, tuple(self.pings))

    def busiest(self, n: int = 8) -> list[tuple[str, int]]:
        counts = self.event_types
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
