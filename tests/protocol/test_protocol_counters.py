"""The pure helpers: latency stats, the send limiter, backoff."""

from __future__ import annotations

import random

import pytest

from birbctl.errors import ConfigError, LocalProtocolError
from birbctl.protocol.backoff import Backoff
from birbctl.protocol.latency import LatencyTracker
from birbctl.protocol.ratelimit import (
    SendLimiter,
    check_payload_size,
    reserved_heartbeat_slots,
)


def test_latency_stats() -> None:
    tracker = LatencyTracker()
    empty = tracker.stats()
    assert empty.samples == 0 and empty.last is None and empty.p95 is None
    for rtt in [50.0, 10.0, 40.0, 20.0, 30.0]:
        tracker.record(rtt)
    stats = tracker.stats()
    assert stats.samples == 5 and stats.total == 5
    assert stats.last == 30.0
    assert stats.avg == pytest.approx(30.0)
    assert (stats.min, stats.p50, stats.p95, stats.max) == (10.0, 30.0, 50.0, 50.0)


def test_latency_history_is_bounded() -> None:
    tracker = LatencyTracker(history=1000)
    for n in range(2500):
        tracker.record(float(n))
    stats = tracker.stats()
    assert stats.samples == 1000 and stats.total == 2500
    assert stats.min == 1500.0 and stats.max == 2499.0
    assert stats.p50 == 1999.0 and stats.p95 == 2449.0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_latency_rejects_impossible_samples(bad: float) -> None:
    with pytest.raises(ValueError):
        LatencyTracker().record(bad)


def test_reserved_heartbeat_slots() -> None:
    assert reserved_heartbeat_slots(41.25) == 3  # 2 scheduled beats fit in 60 s, +1 requested
    assert reserved_heartbeat_slots(60.0) == 2
    assert reserved_heartbeat_slots(1.0) == 61
    assert reserved_heartbeat_slots(None) == 1


def test_121st_send_in_60_s_is_queued_and_released_when_the_window_frees() -> None:
    limiter: SendLimiter[int] = SendLimiter()
    limiter.reset(heartbeat_interval=41.25)
    assert limiter.reserved == 3
    released: list[int] = []
    for n in range(117):
        limiter.submit(n)
        released += limiter.release(now=float(n) / 10)
    for t in (0.0, 20.0, 40.0):
        limiter.heartbeat(t)  # the reserved slots: sends 118-120
    assert limiter.in_window(40.0) == 120
    assert limiter.held == 0  # every send so far went at once
    limiter.submit(117)  # the 121st
    assert limiter.release(now=40.0) == []
    assert limiter.pending == 1
    assert limiter.held == 1
    assert limiter.next_release(now=40.0) == pytest.approx(60.0)  # when send 0 leaves
    assert limiter.release(now=59.999) == []
    assert limiter.held == 1  # held once, however many releases it waited through
    assert limiter.release(now=60.0) == [117]
    assert released == list(range(117))
    assert limiter.held == 1


def test_heartbeats_are_never_held_back() -> None:
    limiter: SendLimiter[int] = SendLimiter(limit=10, window=60.0)
    limiter.reset(heartbeat_interval=30.0)  # 2 + 1 reserved
    for n in range(20):
        limiter.submit(n)
    assert len(limiter.release(0.0)) == 7
    assert limiter.held == 13
    for t in range(5):
        limiter.heartbeat(float(t))  # always recorded, never refused
    assert limiter.in_window(5.0) == 12
    assert limiter.release(5.0) == []
    assert limiter.held == 13  # heartbeats are not counted, and neither is waiting again
    limiter.submit(20)
    assert limiter.release(6.0) == []
    assert limiter.held == 14
    assert len(limiter.release(60.0)) == 7  # the window freed: 7 of the 14 go
    limiter.submit(21)
    assert limiter.release(60.0) == []
    assert limiter.held == 15  # the newcomer; the 7 still queued were counted already
    assert len(limiter.drain()) == 8


def test_limiter_reset_keeps_the_queue() -> None:
    limiter: SendLimiter[str] = SendLimiter(limit=3, window=60.0)
    limiter.reset(heartbeat_interval=None)
    for item in "abcd":
        limiter.submit(item)
    assert limiter.release(0.0) == ["a", "b"]
    limiter.reset()
    assert limiter.release(1.0) == ["c", "d"]
    assert limiter.next_release(1.0) is None


def test_check_payload_size() -> None:
    assert check_payload_size(b"x" * 4096) == 4096
    with pytest.raises(LocalProtocolError, match="4097 bytes"):
        check_payload_size(b"x" * 4097, op=3)


def test_backoff_attempts() -> None:
    backoff = Backoff(random.Random(1), base=1.0, factor=2.0, cap=10.0, jitter="equal")
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays[0] == 0.0
    ceilings = [0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.failures == 8
    backoff.reset()
    assert backoff.next_delay() == 0.0
    assert backoff.ceiling(10_000) == 10.0  # no overflow


@pytest.mark.parametrize(
    "kwargs", [{"base": 0.0}, {"factor": 0.5}, {"cap": 0.1}, {"jitter": "none"}]
)
def test_backoff_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Backoff(random.Random(), **kwargs)  # type: ignore[arg-type]


def test_latency_history_is_the_newest_round_trips_oldest_first() -> None:
    tracker = LatencyTracker(history=5)
    assert tracker.history(3) == []
    for rtt in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        tracker.record(rtt)
    assert tracker.history(3) == [4.0, 5.0, 6.0]
    assert tracker.history(10) == [2.0, 3.0, 4.0, 5.0, 6.0]  # only what is kept
