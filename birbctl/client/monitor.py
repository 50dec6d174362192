"""What a user watches per shard: the numbers behind the dashboard, `status` and `ping`.

A ShardMonitor listens to one Websocket's session actions and keeps plain data
(snapshots are dicts of JSON types), so the renderer, the control socket and `--json`
output all read the same thing.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from birbctl.protocol.events import (
    Action,
    DispatchReceived,
    FatalClose,
    HeartbeatAcked,
    ProtocolViolation,
    Reconnecting,
    SessionInvalidated,
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
    level: str  # info | warn | error


class ShardMonitor:
    """Counts and recent history for one shard. `clock` is wall time (for display)."""

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
        self.events = 0
        self.event_types: Counter[str] = Counter()
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

    def _listen(self, ws: Any, action: Action) -> None:
        del ws
        if isinstance(action, DispatchReceived):
            now = self.clock()
            self.events += 1
            self.event_types[action.t] += 1
            if action.t == "READY" and isinstance(action.d, dict):
                guilds = action.d.get("guilds")
                self._guilds_in_ready = len(guilds) if isinstance(guilds, list) else 0
            recent = self._recent
            recent.append(now)
            while recent and recent[0] < now - RATE_WINDOW:
                recent.popleft()
        elif isinstance(action, HeartbeatAcked):
            self.last_ack_at = self.clock()
            if action.rtt_ms is not None:
                self.pings.append(action.rtt_ms)
        elif isinstance(action, StatusChanged):
            if action.new is GatewayStatus.READY:
                self.reached_ready = True
            self._log(f"{action.old.value} -> {action.new.value}: {action.reason}", "info")
        elif isinstance(action, Reconnecting):
            mode = "resume" if action.resume else "identify"
            self._log(f"reconnecting in {action.delay:.1f} s to {mode}: {action.why}", "warn")
            self.last_trouble = action.why
        elif isinstance(action, SessionInvalidated):
            self.last_trouble = f"session invalidated (resumable: {action.resumable})"
            self._log(f"session invalidated (resumable: {action.resumable})", "warn")
        elif isinstance(action, FatalClose):
            self._log(f"fatal close {action.code}: {action.description}", "error")
        elif isinstance(action, ProtocolViolation):
            self.last_trouble = action.message
            self._log(action.message, "error")

    def _log(self, text: str, level: str) -> None:
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

    def snapshot(self) -> dict[str, Any]:
        """Everything `status --json` and the dashboard show, as JSON types."""
        session = self.ws.session
        stats = session.latency_stats
        now = self.clock()
        shard = list(self.ws.shard) if self.ws.shard is not None else [0, 1]
        return {
            "shard": shard,
            "status": session.status.value,
            "session_id": session.session_id,
            "seq": session.sequence,
            "ping": stats.last,
            "ping_avg": stats.avg,
            "last_ack_age": None if self.last_ack_at is None else now - self.last_ack_at,
            "uptime": now - self.started,
            "connections": self.ws.connection_number,
            "resumes": session.counters.resumes,
            "reidentifies": session.counters.reidentifies,
            "events": self.events,
            "events_per_s": self.events_per_second(),
            "guilds_ready": self._guilds_in_ready - len(session.expected_guilds),
            "guilds_expected": self._guilds_in_ready,
            "url": self.ws.url,
            "encoding": self.ws.encoding,
            "compress": self.ws.compress,
        }

    def ping_table(self) -> dict[str, Any]:
        """`birbctl ping`: last, avg, min, p50, p95, max and sample count, in ms."""
        stats = self.ws.session.latency_stats
        shard = list(self.ws.shard) if self.ws.shard is not None else [0, 1]
        return {
            "shard": shard,
            "last": stats.last,
            "avg": stats.avg,
            "min": stats.min,
            "p50": stats.p50,
            "p95": stats.p95,
            "max": stats.max,
            "samples": stats.samples,
            "history": list(self.pings),
        }

    def busiest(self, n: int = 8) -> list[tuple[str, int]]:
        return self.event_types.most_common(n)
