"""Heartbeat round trips: a bounded history and the stats the ping table shows."""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

DEFAULT_HISTORY = 1000


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """A snapshot, in milliseconds; values are None until the first ACK.

    `samples` counts the round trips the stats are computed over (the retained
    history); `total` counts every round trip ever recorded.
    """

    samples: int
    total: int
    last: float | None
    avg: float | None
    min: float | None
    p50: float | None
    p95: float | None
    max: float | None


class LatencyTracker:
    """Keeps the last `history` round trips so stats stay cheap and memory stays flat."""

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        if history < 1:
            raise ValueError("history must hold at least one sample")
        self._samples: deque[float] = deque(maxlen=history)
        self._total = 0

    def record(self, rtt_ms: float) -> None:
        if not math.isfinite(rtt_ms) or rtt_ms < 0:
            raise ValueError(f"round trip must be a finite non-negative time, got {rtt_ms!r}")
        self._samples.append(rtt_ms)
        self._total += 1

    def clear(self) -> None:
        self._samples.clear()
        self._total = 0

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def last(self) -> float | None:
        return self._samples[-1] if self._samples else None

    def history(self, count: int) -> list[float]:
        """The newest `count` round trips, oldest first (a sparkline's worth)."""
        skip = max(0, len(self._samples) - count)
        return list(itertools.islice(self._samples, skip, None))

    def stats(self) -> LatencyStats:
        if not self._samples:
            return LatencyStats(0, self._total, None, None, None, None, None, None)
        ordered = sorted(self._samples)
        return LatencyStats(
            samples=len(ordered),
            total=self._total,
            last=self._samples[-1],
            avg=math.fsum(ordered) / len(ordered),
            min=ordered[0],
            p50=_nearest_rank(ordered, 50),
            p95=_nearest_rank(ordered, 95),
            max=ordered[-1],
        )


def _nearest_rank(ordered: list[float], percent: float) -> float:
    """Nearest-rank percentile: always a round trip that really happened."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
