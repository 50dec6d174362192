"""The outbound limits of one gateway connection: 120 sends per 60 s, 4096 bytes each.

Going over either gets the connection closed (4008, 4002), so the limiter queues
rather than drops, and it keeps enough of the budget back that heartbeats, which must
never wait, always fit.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Generic, TypeVar

from birbctl.errors import LocalProtocolError

MAX_PAYLOAD_BYTES = 4096
SEND_LIMIT = 120
SEND_WINDOW = 60.0

T = TypeVar("T")


def payload_size(data: bytes | bytearray | str) -> int:
    """Size on the wire: text frames count their UTF-8 bytes."""
    if isinstance(data, str):
        return len(data.encode("utf-8"))
    return len(data)


def check_payload_size(data: bytes | bytearray | str, op: int | None = None) -> int:
    """Raise before sending what the gateway would answer with 4002."""
    size = payload_size(data)
    if size > MAX_PAYLOAD_BYTES:
        what = "payload" if op is None else f"op {op} payload"
        raise LocalProtocolError(
            f"{what} is {size} bytes, over the gateway's {MAX_PAYLOAD_BYTES}-byte limit; "
            "it was not sent"
        )
    return size


def reserved_heartbeat_slots(interval: float | None, window: float = SEND_WINDOW) -> int:
    """Heartbeats that can fall in one window at `interval` seconds, plus one requested beat.

    Before HELLO there is no schedule yet, so only the requested beat is kept back.
    """
    if interval is None or interval <= 0:
        return 1
    return math.ceil(window / interval) + 1


class SendLimiter(Generic[T]):
    """Sliding-window limiter over send times from the caller's clock.

    Heartbeats always go (`heartbeat()`); other sends go through `submit()` +
    `release()`, FIFO, as long as non-heartbeat sends in the window stay below
    `limit - reserved`. Mandatory sends (IDENTIFY, RESUME) use `record()`: they count
    but never wait. `reset()` starts a new connection's window; the queue survives it.
    """

    def __init__(self, limit: int = SEND_LIMIT, window: float = SEND_WINDOW) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = window
        self.reserved = reserved_heartbeat_slots(None, window)
        self._sends: deque[float] = deque()  # non-heartbeat send times
        self._beats: deque[float] = deque()  # heartbeat send times
        self._queue: deque[T] = deque()
        #: Sends the window held back: each queued send found the budget used up at a
        #: release, counted once however long it then waited. Sends that only wait for
        #: the session (no release is tried before READY) are not counted.
        self.held = 0
        self._held_queued = 0  # how many of the queue's first items `held` counts

    def reset(self, heartbeat_interval: float | None = None) -> None:
        self._sends.clear()
        self._beats.clear()
        self.set_heartbeat_interval(heartbeat_interval)

    def set_heartbeat_interval(self, interval: float | None) -> None:
        self.reserved = min(self.limit - 1, reserved_heartbeat_slots(interval, self.window))

    @property
    def budget(self) -> int:
        """Non-heartbeat sends allowed per window."""
        return self.limit - self.reserved

    @property
    def pending(self) -> int:
        return len(self._queue)

    def in_window(self, now: float) -> int:
        """All sends, heartbeats included, that still count at `now`."""
        self._prune(now)
        return len(self._sends) + len(self._beats)

    def available(self, now: float) -> int:
        self._prune(now)
        return max(0, self.budget - len(self._sends))

    def heartbeat(self, now: float) -> None:
        self._prune(now)
        self._beats.append(now)

    def record(self, now: float) -> None:
        self._prune(now)
        self._sends.append(now)

    def submit(self, item: T) -> None:
        self._queue.append(item)

    def release(self, now: float) -> list[T]:
        """Queued items that may be sent at `now`, oldest first; they count as sent."""
        released: list[T] = []
        free = self.available(now)
        while self._queue and free > 0:
            released.append(self._queue.popleft())
            self._sends.append(now)
            free -= 1
        if self._queue:  # the budget ran out with sends still queued: those wait
            already = max(0, self._held_queued - len(released))
            self.held += len(self._queue) - already
        self._held_queued = len(self._queue)
        return released

    def next_release(self, now: float) -> float | None:
        """When the next queued item may go (`now` if it may go at once); None if none."""
        if not self._queue:
            return None
        self._prune(now)
        if len(self._sends) < self.budget:
            return now
        # A slot frees when the send (budget) places from the end leaves the window.
        return self._sends[len(self._sends) - self.budget] + self.window

    def drain(self) -> list[T]:
        """Drop and return everything queued (the session is over)."""
        items = list(self._queue)
        self._queue.clear()
        self._held_queued = 0
        return items

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        for times in (self._sends, self._beats):
            while times and times[0] <= horizon:
                times.popleft()
