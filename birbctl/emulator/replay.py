"""`birbctl serve --replay`: every session gets a recorded session's dispatches, numbered
by its own `s`, at the recorded pace divided by `--speed`.

Sans-I/O like the gateway: `run(now)` dispatches what is due and says when it next has
work; the server's loop only sleeps. Replayed events go through `SessionRecord.dispatch`, so
the replay buffer, RESUME, stalls and `after_events` faults work as with traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from birbctl.emulator.frames import PreparedDispatch
from birbctl.emulator.recording import Recording
from birbctl.emulator.sessions import SessionRecord, SessionRecords

#: Dispatches per session per `run`: a fast replay never holds the event loop for long.
BATCH = 256
#: Frames queued on a connection before its replay waits for the socket to drain.
MAX_BACKLOG = 512
#: How soon to look again at a session held back by its backlog.
POLL = 0.01
#: Prepared dispatches kept for sessions that are at the same place in the recording.
_CACHE = 4096


class _Cursor:
    """Where one session is in the recording: event `index` of pass `passes` is due at
    `base + (offset - origin) / speed`."""

    __slots__ = ("base", "index", "origin", "passes", "record")

    def __init__(self, record: SessionRecord, base: float) -> None:
        self.record = record
        self.index = 0
        self.base = base
        self.origin = 0.0
        self.passes = 0


class ReplayScheduler:
    """Feeds a recording to every session that identifies."""

    def __init__(
        self,
        recording: Recording,
        records: SessionRecords,
        *,
        speed: float = 1.0,
        loop: bool = False,
        note: Callable[[str], None] | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.recording = recording
        self.records = records
        self.speed = speed
        self.loop = loop
        self.note = note
        #: Called when a session starts, so the server's loop need not wait for a poll.
        self.poke: Callable[[], None] | None = None
        self._cursors: dict[str, _Cursor] = {}
        self._cache: dict[int, PreparedDispatch] = {}
        body = [e.offset for e in recording.events if not e.initial]
        #: A --loop pass replays everything but the READY's GUILD_CREATE burst.
        self._loop_origin = body[0] if body else None

    def ready(
        self,
        *,
        version: int,
        session_id: str,
        resume_url: str,
        shard: list[int] | None,
        synthetic: dict[str, Any],
    ) -> dict[str, Any]:
        """The recorded READY with this emulator's session, URL and version, so RESUME
        comes back here; `synthetic` when the recording started mid-session."""
        recorded = self.recording.ready
        if recorded is None:
            return synthetic
        ready = dict(recorded)
        ready["v"] = version
        ready["session_id"] = session_id
        ready["resume_gateway_url"] = resume_url
        if shard is not None:
            ready["shard"] = shard  # what this client identified as, as Discord answers
        return ready

    def start(self, record: SessionRecord, now: float) -> None:
        self._cursors[record.id] = _Cursor(record, now)
        if self.poke is not None:
            self.poke()

    def __len__(self) -> int:
        return len(self._cursors)

    def run(self, now: float) -> float | None:
        """Dispatch what is due; return when there is more to do (None: nothing planned)."""
        events = self.recording.events
        speed = self.speed
        next_at: float | None = None
        for cursor in list(self._cursors.values()):
            record = cursor.record
            if self.records.get(record.id) is not record:  # ended or expired
                del self._cursors[record.id]
                continue
            sink = record.connection
            if sink is None and speed == 0:
                continue  # no timeline to keep: wait for a RESUME rather than overflow
            if sink is not None and getattr(sink, "backlog", 0) > MAX_BACKLOG:
                next_at = now + POLL if next_at is None else min(next_at, now + POLL)
                continue
            sent = 0
            while sent < BATCH:
                if cursor.index >= len(events) and not self._restart(cursor):
                    del self._cursors[record.id]
                    break
                event = events[cursor.index]
                if cursor.passes and event.initial:
                    cursor.index += 1
                    continue
                if speed:
                    due = cursor.base + (event.offset - cursor.origin) / speed
                    if due > now:
                        next_at = due if next_at is None else min(next_at, due)
                        break
                record.dispatch(self._prepared(cursor.index))
                cursor.index += 1
                sent += 1
            else:
                next_at = now  # the batch is full and more is due
        return next_at

    def _restart(self, cursor: _Cursor) -> bool:
        """At the end of the recording: start over with --loop, or say it is done."""
        record = cursor.record
        events = self.recording.events
        if not self.loop or self._loop_origin is None:
            self._say(f"session {record.id[:8]}: replay finished ({len(events)} dispatches)")
            return False
        if not cursor.passes:
            self._say(f"session {record.id[:8]}: replay finished; --loop starts it over")
        if self.speed and events:
            cursor.base += (events[-1].offset - cursor.origin) / self.speed
        cursor.origin = self._loop_origin
        cursor.index = 0
        cursor.passes += 1
        return True

    def _prepared(self, index: int) -> PreparedDispatch:
        """Shared by sessions at the same place, so each encoding is done once."""
        cache = self._cache
        event = cache.get(index)
        if event is None:
            recorded = self.recording.events[index]
            event = PreparedDispatch(recorded.t, orjson.loads(recorded.data), synthetic=True)
            if len(cache) >= _CACHE:
                del cache[next(iter(cache))]
            cache[index] = event
        return event

    def _say(self, text: str) -> None:
        if self.note is not None:
            self.note(text)
