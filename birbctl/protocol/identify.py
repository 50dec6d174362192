"""The identify rate limit: `max_concurrency` IDENTIFYs per 5 s, one per bucket.

GET /gateway/bot gives `session_start_limit.max_concurrency`; shard `id` belongs to
bucket `id % max_concurrency`, and each bucket may identify once per 5 s. One gate is
shared by every shard of a process, so shards started together queue correctly.
"""

from __future__ import annotations

IDENTIFY_WINDOW = 5.0


class IdentifyGate:
    """Hands out identify slots; pure: the caller passes the clock reading."""

    def __init__(self, max_concurrency: int = 1, window: float = IDENTIFY_WINDOW) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        self.window = window
        self._next_free: dict[int, float] = {}

    def bucket(self, shard_id: int) -> int:
        return shard_id % self.max_concurrency

    def reserve(self, shard_id: int, now: float) -> float:
        """Take the next slot of the shard's bucket; returns when it may IDENTIFY."""
        bucket = self.bucket(shard_id)
        at = max(now, self._next_free.get(bucket, now))
        self._next_free[bucket] = at + self.window
        return at
