"""Heartbeats: first-beat jitter, the interval, d = sequence, ACK round trips, op 1, zombies."""

from __future__ import annotations

import itertools
import random

import pytest
from gateway_harness import INTERVAL_MS, RESUME_URL, SEED, Harness

from birbctl.protocol.events import (
    CloseConnection,
    HeartbeatAcked,
    HeartbeatSent,
    OpenConnection,
    Reconnecting,
    SendPayload,
)
from birbctl.protocol.status import GatewayStatus

INTERVAL = INTERVAL_MS / 1000


def beats(h: Harness) -> list[tuple[float, SendPayload]]:
    h.drain()
    return [(t, a) for t, a in h.log if isinstance(a, SendPayload) and a.heartbeat]


def test_first_beat_waits_interval_times_random() -> None:
    h = Harness()
    h.session.connect()
    h.open()
    t0 = h.clock.now
    h.hello()
    expected = t0 + INTERVAL * random.Random(SEED).random()
    assert h.session.next_deadline() == pytest.approx(expected)
    h.run_until(expected - 0.001)
    assert beats(h) == []
    h.run_until(expected)
    [(when, beat)] = beats(h)
    assert when == pytest.approx(expected)
    assert beat.payload == {"op": 1, "d": None}  # nothing dispatched yet: null


def test_first_beat_jitter_differs_with_the_seed() -> None:
    firsts = set()
    for seed in range(5):
        h = Harness(rng=random.Random(seed))
        h.session.connect()
        h.open()
        h.hello()
        deadline = h.session.next_deadline()
        assert deadline is not None
        assert h.clock.now <= deadline < h.clock.now + INTERVAL
        firsts.add(deadline)
    assert len(firsts) == 5


def test_beats_every_interval_after_the_first() -> None:
    h = Harness()
    h.connect_ready()
    h.ack_each_beat(6 * INTERVAL)
    times = [t for t, _ in beats(h)]
    assert len(times) >= 5
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([INTERVAL] * len(gaps))
    assert h.session.status is GatewayStatus.READY


def test_beat_carries_last_sequence() -> None:
    h = Harness()
    h.connect_ready()  # READY had s=1
    h.dispatch("MESSAGE_CREATE", {}, 5)
    h.dispatch("MESSAGE_CREATE", {}, None)  # no s: ignored
    h.dispatch("MESSAGE_CREATE", {}, 3)  # older s: the sequence only increases
    h.session.heartbeat()
    [(_, beat)] = beats(h)
    assert beat.payload == {"op": 1, "d": 5}
    assert h.all(HeartbeatSent) == [HeartbeatSent(5, scheduled=False)]


def test_ack_records_round_trip_into_stats() -> None:
    h = Harness()
    h.connect_ready()
    deadline = h.session.next_deadline()
    assert deadline is not None
    h.run_until(deadline)
    assert h.session.last_heartbeat == deadline
    assert h.session.last_heartbeat_acked is False
    h.clock.advance(0.120)
    h.ack()
    [acked] = h.all(HeartbeatAcked)
    assert acked.rtt_ms == pytest.approx(120.0)
    assert h.session.ping == pytest.approx(120.0)
    assert h.session.last_heartbeat_acked is True
    stats = h.session.latency_stats
    assert stats.samples == 1
    assert stats.last == stats.min == stats.max == pytest.approx(120.0)


def test_ack_without_outstanding_beat_has_no_round_trip() -> None:
    h = Harness()
    h.connect_ready()
    h.ack()
    assert h.all(HeartbeatAcked) == [HeartbeatAcked(None)]
    assert h.session.latency_stats.samples == 0


def test_unacked_beat_is_a_zombie_closed_with_4000_range_then_resumed() -> None:
    h = Harness(compress="zlib-stream")
    h.connect_ready()
    first = h.session.next_deadline()
    assert first is not None
    h.run_until(first)  # beat 1, never ACKed
    h.forget()
    h.run_until(first + INTERVAL)
    [close] = h.all(CloseConnection)
    assert 4000 <= close.code <= 4999
    assert "zombie" in close.reason
    assert beats(h) == []  # no second beat into a dead connection
    assert h.session.status is GatewayStatus.RECONNECTING

    h.close(close.code, close.reason)
    [again] = h.all(Reconnecting)
    assert again.resume is True and again.delay == 0
    [opened] = h.all(OpenConnection)
    assert opened.url == RESUME_URL + "/?v=10&encoding=json&compress=zlib-stream"
    h.open()
    h.hello()
    assert h.sent()[-1]["op"] == 6
    assert h.sent()[-1]["d"]["session_id"] == "sess-1"
    assert h.sent()[-1]["d"]["seq"] == 1
    assert h.session.status is GatewayStatus.RESUMING


def test_server_heartbeat_request_beats_at_once_and_keeps_schedule() -> None:
    h = Harness()
    h.connect_ready()
    scheduled = h.session.next_deadline()
    assert scheduled is not None
    h.clock.advance(1.0)
    h.op(1)
    [(when, beat)] = beats(h)
    assert when == h.clock.now
    assert beat.payload == {"op": 1, "d": 1}
    assert h.all(HeartbeatSent) == [HeartbeatSent(1, scheduled=False)]
    assert h.session.next_deadline() == scheduled


def test_requested_beat_just_before_schedule_is_not_a_zombie() -> None:
    """The scheduled beat was ACKed; a requested beat still in flight must not count."""
    h = Harness()
    h.connect_ready()
    first = h.session.next_deadline()
    assert first is not None
    h.run_until(first)
    h.ack()  # the scheduled beat is answered
    h.run_until(first + INTERVAL - 0.01)
    h.op(1)  # the gateway asks for one more; its ACK is slow
    h.forget()
    h.run_until(first + INTERVAL)
    assert h.all(CloseConnection) == []
    assert len(beats(h)) == 1  # the scheduled beat went
    h.ack()
    h.ack()
    h.run_until(first + 2 * INTERVAL)
    assert h.all(CloseConnection) == []


def test_user_heartbeat_needs_an_open_connection() -> None:
    from birbctl.errors import LocalProtocolError

    h = Harness()
    with pytest.raises(LocalProtocolError):
        h.session.heartbeat()


def test_driver_falling_behind_does_not_burst_beats() -> None:
    h = Harness()
    h.connect_ready()
    first = h.session.next_deadline()
    assert first is not None
    h.run_until(first)
    h.ack()
    h.clock.now = first + 3.5 * INTERVAL  # the driver slept through three beats
    h.session.tick()
    h.ack()
    assert len(beats(h)) == 2
    assert h.session.next_deadline() == pytest.approx(h.clock.now + INTERVAL)
