"""The identify rate limit: `max_concurrency` IDENTIFYs per 5 s, one per bucket.

GET /gateway/bot gives `session_start_limit.max_concurrency`; shard `id` belongs to
bucket `id % max_concurrency`, and each bucket may identify once per 5 s. One gate is
shared by every shard of a process, so shards started together queue correctly.

A slot is reserved when HELLO arrives and the IDENTIFY is held until it comes. If the
connection dies before the IDENTIFY goes out, the holder gives the slot back
(`release`): the gateway never saw that IDENTIFY, so keeping the slot would push the
next attempt another window out for nothing, and repeated handshake faults would stack
those windows into minutes of needless outage.
"""

from __future__ import annotations

import bisect

IDENTIFY_WINDOW = 5.0
#: What a driver adds to the window: its timer may fire an IDENTIFY a little late and
#: the next one on time, and the network may deliver them unevenly, so slots exactly 5 s
#: apart can reach the gateway 4.99 s apart. 0.1 s covers that for 2% more wait.
DRIVER_MARGIN = 0.1


class IdentifyGate:
    """Hands out identify slots; pure: the caller passes the clock reading.

    Each bucket keeps the start times of its slots, sorted; two slots of one bucket are
    always at least `window` apart. A new slot takes the earliest gap that fits, so a
    released slot is reused by whoever asks next.
    """

    def __init__(
        self, max_concurrency: int = 1, window: float = IDENTIFY_WINDOW, margin: float = 0.0
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        #: Slots start at least this far apart: the gateway's window plus the driver's margin.
        self.window = window + margin
        self._slots: dict[int, list[float]] = {}

    def bucket(self, shard_id: int) -> int:
        return shard_id % self.max_concurrency

    def reserve(self, shard_id: int, now: float) -> float:
        """Take the earliest free slot of the shard's bucket; returns when it may IDENTIFY."""
        slots = self._slots.setdefault(self.bucket(shard_id), [])
        # Slots whose window has passed no longer constrain anything.
        expired = bisect.bisect_right(slots, now - self.window)
        del slots[:expired]
        at = now
        for start in slots:
            if at + self.window <= start:
                break  # the gap before this slot is wide enough
            if start + self.window > at:
                at = start + self.window
        bisect.insort(slots, at)
        return at

    def release(self, shard_id: int, at: float) -> None:
        """Give back a slot whose IDENTIFY was never sent (its connection died first)."""
        slots = self._slots.get(self.bucket(shard_id))
        if slots is None:
            return
        index = bisect.bisect_left(slots, at)
        if index < len(slots) and slots[index] == at:
            del slots[index]

    def pending(self, shard_id: int, now: float) -> list[float]:
        """Slots of the shard's bucket still in force at `now` (for status and tests)."""
        slots = self._slots.get(self.bucket(shard_id), [])
        return [s for s in slots if s + self.window > now]
