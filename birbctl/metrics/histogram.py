"""A heartbeat round-trip histogram kept by the monitor, exported as Prometheus'.

The monitor observes every ACK's round trip here (a bisect and an increment, once per
heartbeat), so no scrape misses a sample; the collector reads the counts at scrape
time. Plain Python: the live client keeps it whether or not `--metrics` is given.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

#: Upper bounds in seconds, 1 ms to 10 s. Finer around typical gateway pings (20 to
#: 150 ms) so p50/p95 interpolate within narrow buckets; 50 ms sits mid-bucket.
RTT_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
    0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HistogramCounts:
    """A frozen reading: per-bucket counts (the last is above every bound), sum, count."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float
    count: int

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs as the exposition format lists them, +Inf last."""
        out: list[tuple[str, int]] = []
        total = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            total += n
            out.append((repr(float(bound)), total))
        out.append(("+Inf", self.count))
        return out


class RoundTripHistogram:
    """Counts of round trips (seconds) per bucket of `bounds`, with their sum."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = RTT_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("bounds must be increasing")
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def read(self) -> HistogramCounts:
        return HistogramCounts(self.bounds, tuple(self.counts), self.sum, self.count)
