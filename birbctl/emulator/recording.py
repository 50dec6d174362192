"""A recorded session loaded for `birbctl serve --replay`: the first READY and the
received dispatches after it, with their times, and nothing else.

Any file `birbctl decode` reads will do (capture, HAR, JSON Lines...). The file is
streamed and each dispatch's `d` kept as compact JSON, so a big capture costs memory for
its dispatches only, a few times less than the decoded objects would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from birbctl.capture.sources import iter_messages
from birbctl.errors import DecodeError
from birbctl.protocol.wire import Direction

#: Dispatches of the recorded client's own connections, not events of the session.
_CONNECTION_EVENTS = frozenset({"READY", "RESUMED"})


class RecordedDispatch(NamedTuple):
    offset: float  # seconds after the recorded READY (or the first dispatch without one)
    t: str
    data: bytes  # `d` as compact JSON
    #: One of the READY's GUILD_CREATE burst: sent once per session, not again by --loop.
    initial: bool


@dataclass(slots=True)
class Recording:
    path: str
    #: The first recorded READY's `d`; None when the recording starts mid-session.
    ready: dict[str, Any] | None
    events: list[RecordedDispatch] = field(default_factory=list)
    #: Dispatches left out: later READY/RESUMED, a re-identify's GUILD_CREATE burst,
    #: anything before the first READY.
    skipped: int = 0

    @property
    def span(self) -> float:
        """Seconds from READY to the last dispatch, as recorded."""
        return self.events[-1].offset if self.events else 0.0

    @property
    def user(self) -> dict[str, Any] | None:
        user = self.ready.get("user") if self.ready is not None else None
        return user if isinstance(user, dict) else None

    @property
    def guild_count(self) -> int:
        return len(_guild_ids(self.ready)) if self.ready is not None else 0


def _guild_ids(ready: dict[str, Any]) -> list[str]:
    guilds = ready.get("guilds")
    if not isinstance(guilds, list):
        return []
    return [str(g["id"]) for g in guilds if isinstance(g, dict) and "id" in g]


def _guild_id(d: Any) -> str | None:
    return str(d["id"]) if isinstance(d, dict) and "id" in d else None


def load_recording(path: str) -> Recording:
    """Read `path`; a missing file is a ConfigError, an undecodable one a DecodeError."""
    recording = Recording(path, None)
    events = recording.events
    origin: float | None = None
    last = 0.0
    initial: set[str] = set()  # first READY's guilds whose GUILD_CREATE has not come yet
    known: set[str] = set()  # guilds the replaying client has been told about
    burst: set[str] = set()  # a later READY's guilds, whose GUILD_CREATEs are repeats
    for message in iter_messages(path):
        # Clients never send op 0; a raw file without directions holds what was received.
        if message.op != 0 or message.direction == Direction.SEND:
            continue
        t, d, ts = message.t, message.payload.get("d"), message.ts
        if t is None:
            continue
        if t == "READY" and recording.ready is None:
            if not isinstance(d, dict):
                raise DecodeError("READY without an object `d`", frame=message.frame, file=path)
            recording.ready = d
            recording.skipped += len(events)  # before the session we replay
            events.clear()
            initial = set(_guild_ids(d))
            known = set(initial)
            origin, last = ts, 0.0
            continue
        if t in _CONNECTION_EVENTS:
            recording.skipped += 1
            if t == "READY" and isinstance(d, dict):
                burst = set(_guild_ids(d)) & known
            continue
        gid = _guild_id(d) if t == "GUILD_CREATE" else None
        if gid is not None and gid in burst:
            burst.discard(gid)
            recording.skipped += 1
            continue
        if origin is None:
            origin = ts
        if ts is not None and origin is not None:
            last = max(last, ts - origin)  # HAR times need not be ordered
        try:
            data = orjson.dumps(d)
        except TypeError as exc:  # an integer beyond 64 bits, from ETF
            raise DecodeError(
                f"{t} cannot be re-encoded: {exc}", frame=message.frame, file=path
            ) from None
        first = gid is not None and gid in initial
        if gid is not None:
            initial.discard(gid)
            known.add(gid)
        events.append(RecordedDispatch(last, t, data, first))
    if not events and recording.ready is None:
        raise DecodeError("no received dispatches (op 0) to replay", file=path)
    return recording
