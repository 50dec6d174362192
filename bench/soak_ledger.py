"""What a chaos soak counts per shard, read from the client's own actions.

Kept apart from the fault driver (bench/soak.py) so the test suite can check the
accounting itself on scripted action sequences.

Per shard: dispatches; lost and duplicated sequence numbers, per gateway session (a
RESUME must replay every missed dispatch exactly once; a new session after a
re-identify starts again at 1, and what the old one had not delivered is gone by the
rules, so it is not "lost"); reconnects, resumes, re-identifies; and recovery
episodes. An episode starts when a fault strikes a READY shard (faults that strike
while it is already recovering join the episode) and ends when the shard is READY
again. Its required time is what the gateway's rules make the client wait: the
reconnect delays it announced (backoff after consecutive failures, op 9's 1-5 s), the
time an IDENTIFY waited for its slot (the identify limit), and the time a fault took
to become visible (a zombie is only known after a missed ACK, a missing HELLO after
the hello timeout). Its overhead is the rest; the soak wants it under 2 s.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from typing import Any

from birbctl.protocol.events import (
    DispatchReceived,
    Reconnecting,
    SendPayload,
    StatusChanged,
)
from birbctl.protocol.status import GatewayStatus

_UP = GatewayStatus.READY
#: Statuses in which a shard is recovering (not READY, not stopped).
_DOWN = frozenset(
    {
        GatewayStatus.CONNECTING,
        GatewayStatus.IDENTIFYING,
        GatewayStatus.WAITING_FOR_GUILDS,
        GatewayStatus.RESUMING,
        GatewayStatus.RECONNECTING,
    }
)


@dataclass
class Episode:
    started: float
    faults: list[str]
    ended: float | None = None
    #: Seconds the rules made the client wait within the episode.
    required: float = 0.0
    #: What happened, for a reader of a slow episode: (time, what, required so far).
    log: list[tuple[float, str, float]] = field(default_factory=list)
    #: Required waits are intervals of time; where two overlap (a zombie noticed while
    #: an IDENTIFY waited for its slot) the time counts once.
    _covered: float = 0.0

    def require(self, start: float, end: float) -> None:
        start = max(start, self._covered)
        if end > start:
            self.required += end - start
            self._covered = end

    @property
    def took(self) -> float:
        assert self.ended is not None
        return self.ended - self.started

    @property
    def overhead(self) -> float:
        return self.took - self.required


@dataclass
class ShardLedger:
    shard: int
    #: Episodes whose overhead is above this keep their timeline (`Episode.log`).
    keep_logs_over: float = 2.0
    faults: int = 0
    fault_kinds: dict[str, int] = field(default_factory=dict)
    dispatches: int = 0
    duplicated: int = 0
    reconnects: int = 0
    resumes: int = 0
    identifies: int = 0
    identify_times: list[float] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    #: Per gateway session id: the sequence numbers seen.
    seen: dict[str, set[int]] = field(default_factory=dict)
    _session: str | None = None
    _status: GatewayStatus = GatewayStatus.IDLE
    _waiting_slot_since: float | None = None
    _detect_from: float | None = None
    _open: Episode | None = None
    _last_ready_at: float = float("-inf")

    # --- fed by the soak ----------------------------------------------------------------

    def fault(self, kind: str, at: float, *, hidden: bool = False) -> None:
        """A fault struck this shard at `at`. `hidden`: the client cannot see it at
        once (zombie, stall); the time until it acts on it counts as required."""
        self.faults += 1
        self.fault_kinds[kind] = self.fault_kinds.get(kind, 0) + 1
        if self._open is None and self.episodes and at <= self._last_ready_at:
            # Reported after the shard had recovered from it (the emulator's record is read
            # a few ms late): it belongs to the episode that just ended.
            self.episodes[-1].faults.append(kind)
            return
        if self._open is None:
            self._open = Episode(at, [kind])
        else:
            self._open.faults.append(kind)
        self._open.log.append((at, f"fault {kind}", self._open.required))
        if hidden and self._detect_from is None:
            self._detect_from = at

    def action(self, action: Any, at: float) -> None:
        """One action of the shard's session, as its listener saw it."""
        self._note(action, at)
        if isinstance(action, DispatchReceived):
            self._dispatch(action)
        elif isinstance(action, StatusChanged):
            self._status_changed(action, at)
        elif isinstance(action, Reconnecting):
            self.reconnects += 1
            if self._open is not None:
                self._open.require(at, at + action.delay)
        elif isinstance(action, SendPayload) and action.payload.get("op") == 2:
            self.identifies += 1
            self.identify_times.append(at)
            self._slot_wait_ends(at)

    def _slot_wait_ends(self, at: float) -> None:
        """The identify limit held an IDENTIFY back from `_waiting_slot_since` to `at`."""
        if self._waiting_slot_since is not None and self._open is not None:
            self._open.require(self._waiting_slot_since, at)
        self._waiting_slot_since = None

    def _note(self, action: Any, at: float) -> None:
        if self._open is None:
            return
        if isinstance(action, StatusChanged):
            text = f"{action.new}: {action.reason}"
        elif isinstance(action, Reconnecting):
            text = f"reconnect in {action.delay:.2f} s"
        elif isinstance(action, SendPayload) and action.payload.get("op") in (2, 6):
            text = "IDENTIFY" if action.payload["op"] == 2 else "RESUME"
        else:
            return
        self._open.log.append((at, text, self._open.required))

    def _dispatch(self, action: DispatchReceived) -> None:
        if action.t == "READY" and isinstance(action.d, dict):
            self._session = str(action.d.get("session_id"))
        elif action.t == "RESUMED":
            self.resumes += 1
        if action.s is None or self._session is None:
            return
        self.dispatches += 1
        seen = self.seen.setdefault(self._session, set())
        if action.s in seen:
            self.duplicated += 1
        seen.add(action.s)

    def _status_changed(self, action: StatusChanged, at: float) -> None:
        self._status = action.new
        if action.new is GatewayStatus.IDENTIFYING and "identify slot" in action.reason:
            self._waiting_slot_since = at
        elif action.new is GatewayStatus.RECONNECTING:
            self._slot_wait_ends(at)  # the connection died while its IDENTIFY waited
        if (
            action.new is GatewayStatus.RECONNECTING
            and self._detect_from is not None
            and self._open is not None
        ):
            # The client gave up on the connection: the wait until now was the rules'.
            self._open.require(self._detect_from, at)
            self._detect_from = None
        if action.new is _UP:
            self._last_ready_at = at
        if action.new is _UP and self._open is not None:
            self._open.ended = at
            if self._open.overhead <= self.keep_logs_over:
                # A long soak has thousands of episodes: keep the timeline of slow ones
                # only, so the soak's own bookkeeping does not pass for a leak.
                self._open.log = []
            self.episodes.append(self._open)
            self._open = None
            self._detect_from = None
        if action.new in _DOWN and self._open is None and action.old is _UP:
            # Down without a fault of ours (a server-side timeout): an episode all the same.
            self._open = Episode(at, ["unprovoked"])

    # --- results --------------------------------------------------------------------

    @property
    def lost(self) -> int:
        """Sequence numbers missing below the highest one seen, per gateway session."""
        return sum(max(seen) - len(seen) for seen in self.seen.values() if seen)

    @property
    def waiting_for_slot(self) -> float | None:
        """Since when this shard's IDENTIFY waits for its slot (None: it does not)."""
        return self._waiting_slot_since

    @property
    def reidentifies(self) -> int:
        return max(0, self.identifies - 1)

    @property
    def recovering(self) -> bool:
        """An episode is open: a fault struck and the shard is not READY again yet."""
        return self._open is not None

    @property
    def ready(self) -> bool:
        return self._status is _UP and self._open is None

    def summary(self) -> dict[str, Any]:
        overheads = [e.overhead for e in self.episodes]
        took = [e.took for e in self.episodes]
        return {
            "shard": self.shard,
            "faults": self.faults,
            "episodes": len(self.episodes),
            "reconnects": self.reconnects,
            "resumes": self.resumes,
            "reidentifies": self.reidentifies,
            "dispatches": self.dispatches,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "recovery_p50_s": statistics.median(took) if took else 0.0,
            "recovery_max_s": max(took, default=0.0),
            "overhead_p50_s": statistics.median(overheads) if overheads else 0.0,
            "overhead_max_s": max(overheads, default=0.0),
        }


def identify_spacing_violations(
    ledgers: list[ShardLedger], max_concurrency: int, window: float = 5.0
) -> list[tuple[int, float, float]]:
    """IDENTIFYs of one bucket (shard % max_concurrency) sent less than `window` apart."""
    by_bucket: dict[int, list[float]] = {}
    for ledger in ledgers:
        by_bucket.setdefault(ledger.shard % max_concurrency, []).extend(ledger.identify_times)
    found = []
    for bucket, times in by_bucket.items():
        times.sort()
        for earlier, later in itertools.pairwise(times):
            if later - earlier < window - 1e-3:
                found.append((bucket, earlier, later))
    return found
