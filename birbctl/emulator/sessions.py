"""Session records: what the emulator keeps of each gateway session it serves, so that
the session outlives its connection. A dropped client may RESUME within the expiry and
gets every dispatch it missed from the record's replay buffer.

"Session" alone means the gateway session (Discord's `session_id`); the record is the
emulator's bookkeeping for one, on the server's side of the wire.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Protocol

from birbctl.emulator.faults import FaultStep
from birbctl.emulator.frames import PreparedDispatch

_DAY_S = 86_400.0
_TOMBSTONES = 10_000


class DispatchSink(Protocol):
    """Where a session record's dispatches go while a connection is attached."""

    def deliver(self, event: PreparedDispatch, seq: int) -> None: ...


class SessionRecord:
    """What the emulator keeps of one identified gateway session: its numbering, replay
    buffer and fault timeline."""

    __slots__ = (
        "buffer",
        "connection",
        "created_at",
        "detached_at",
        "fired",
        "id",
        "intents",
        "large_threshold",
        "seq",
        "shard",
        "steps",
        "synthetic_count",
        "token",
        "user_id",
    )

    def __init__(
        self,
        session_id: str,
        *,
        token: str,
        user_id: int,
        shard: tuple[int, int],
        intents: int,
        now: float,
        steps: tuple[FaultStep, ...] = (),
        buffer_size: int = 2000,
        large_threshold: int = 50,
    ) -> None:
        self.id = session_id
        self.token = token
        self.user_id = user_id
        self.shard = shard
        self.intents = intents
        self.large_threshold = large_threshold
        self.created_at = now
        self.seq = 0
        self.buffer: deque[tuple[int, PreparedDispatch]] = deque(maxlen=buffer_size)
        self.connection: DispatchSink | None = None
        self.detached_at: float | None = now
        self.synthetic_count = 0
        self.steps = steps
        self.fired: set[int] = set()

    def dispatch(self, event: PreparedDispatch) -> None:
        """Number the event (if the session's intents ask for it), keep it, deliver it."""
        if event.intent and not self.intents & event.intent:
            return
        self.seq = seq = self.seq + 1
        self.buffer.append((seq, event))
        if event.synthetic:
            self.synthetic_count += 1
        if self.connection is not None:
            self.connection.deliver(event, seq)

    def missed_since(self, seq: int) -> list[tuple[int, PreparedDispatch]] | None:
        """Dispatches after `seq`, or None if `seq` is invalid (ahead of the session, or
        so old that the buffer no longer holds what came after it)."""
        if seq < 0 or seq > self.seq:
            return None
        if seq == self.seq:
            return []
        oldest = self.buffer[0][0] if self.buffer else self.seq + 1
        if seq + 1 < oldest:
            return None
        return [(s, e) for s, e in self.buffer if s > seq]

    def attach(self, sink: DispatchSink) -> None:
        self.connection = sink
        self.detached_at = None

    def detach(self, sink: DispatchSink, now: float) -> None:
        if self.connection is sink:
            self.connection = None
            self.detached_at = now


class SessionRecords:
    """The live session records by session id and by shard (the unit traffic is generated
    for), expired ids (so RESUME can tell "timed out", 4009, from "unknown"), and the
    identify budget."""

    def __init__(self, *, expiry_s: float, start_total: int, max_concurrency: int) -> None:
        self.expiry_s = expiry_s
        self.start_total = start_total
        self.max_concurrency = max_concurrency
        self.by_id: dict[str, SessionRecord] = {}
        self.groups: dict[tuple[int, int], dict[str, SessionRecord]] = {}
        self._tombstones: OrderedDict[str, None] = OrderedDict()
        self._starts_used = 0
        self._window_start: float | None = None

    def __len__(self) -> int:
        return len(self.by_id)

    def __iter__(self) -> Iterator[SessionRecord]:
        return iter(list(self.by_id.values()))

    def new_id(self) -> str:
        return secrets.token_hex(16)

    def add(self, record: SessionRecord, now: float) -> None:
        self._count_start(now)
        self.by_id[record.id] = record
        self.groups.setdefault(record.shard, {})[record.id] = record

    def get(self, session_id: str) -> SessionRecord | None:
        return self.by_id.get(session_id)

    def is_expired(self, session_id: str) -> bool:
        return session_id in self._tombstones

    def invalidate(self, record: SessionRecord) -> None:
        """Forget the session: a RESUME of it gets op 9 (false)."""
        self._remove(record)

    def expire(self, record: SessionRecord) -> None:
        """Time the session out: a RESUME of it gets 4009."""
        if self._remove(record):
            self._tombstones[record.id] = None
            while len(self._tombstones) > _TOMBSTONES:
                self._tombstones.popitem(last=False)

    def sweep(self, now: float) -> None:
        for record in list(self.by_id.values()):
            if record.detached_at is not None and now - record.detached_at > self.expiry_s:
                self.expire(record)

    def _remove(self, record: SessionRecord) -> bool:
        if self.by_id.get(record.id) is not record:
            return False
        del self.by_id[record.id]
        group = self.groups.get(record.shard)
        if group is not None:
            group.pop(record.id, None)
            if not group:
                del self.groups[record.shard]
        return True

    # --- session start limit (GET /gateway/bot) ------------------------------------------

    def _roll(self, now: float) -> None:
        if self._window_start is not None and now - self._window_start >= _DAY_S:
            self._window_start = None
            self._starts_used = 0

    def _count_start(self, now: float) -> None:
        self._roll(now)
        if self._window_start is None:
            self._window_start = now
        self._starts_used += 1

    def session_start_limit(self, now: float) -> dict[str, int]:
        self._roll(now)
        reset_after = 0 if self._window_start is None else _DAY_S - (now - self._window_start)
        return {
            "total": self.start_total,
            "remaining": max(0, self.start_total - self._starts_used),
            "reset_after": int(reset_after * 1000),
            "max_concurrency": self.max_concurrency,
        }
