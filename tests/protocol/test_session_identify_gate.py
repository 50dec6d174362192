"""Identify concurrency: max_concurrency IDENTIFYs per 5 s, bucket shard_id % max_concurrency."""

from __future__ import annotations

import pytest
from gateway_harness import Harness

from birbctl.protocol.events import SendPayload
from birbctl.protocol.identify import IdentifyGate
from birbctl.protocol.status import GatewayStatus


def test_gate_spaces_one_bucket_by_five_seconds() -> None:
    gate = IdentifyGate(max_concurrency=1)
    assert [gate.reserve(shard, 100.0) for shard in range(3)] == [100.0, 105.0, 110.0]


def test_gate_buckets_run_side_by_side() -> None:
    gate = IdentifyGate(max_concurrency=16)
    # Shards 0..15 fill the 16 buckets at once; 16 shares bucket 0 and waits.
    starts = [gate.reserve(shard, 0.0) for shard in range(17)]
    assert starts[:16] == [0.0] * 16 and starts[16] == 5.0
    assert gate.bucket(33) == 1


def test_gate_frees_after_the_window() -> None:
    gate = IdentifyGate()
    assert gate.reserve(0, 0.0) == 0.0
    assert gate.reserve(0, 7.0) == 7.0
    with pytest.raises(ValueError):
        IdentifyGate(max_concurrency=0)


def _shard(gate: IdentifyGate, shard_id: int, count: int) -> Harness:
    return Harness(shard=(shard_id, count), identify_gate=gate)


def test_sessions_hold_identify_until_their_slot() -> None:
    gate = IdentifyGate(max_concurrency=1)
    first, second = _shard(gate, 0, 2), _shard(gate, 1, 2)
    second.clock = first.clock  # one process, one clock
    second.session._clock = first.clock
    for h in (first, second):
        h.session.connect()
        h.open()
        h.hello()
    assert 2 in first.sent_ops()
    assert 2 not in second.sent_ops()
    assert second.session.status is GatewayStatus.IDENTIFYING
    assert second.session.next_deadline() is not None
    # Heartbeats still run while IDENTIFY waits; IDENTIFY goes at the slot, not before.
    second.run_until(first.clock.now + 4.9)
    assert 2 not in second.sent_ops()
    second.run_until(first.clock.now + 0.2)
    assert second.sent_ops().count(2) == 1


def test_held_identify_is_dropped_with_the_connection() -> None:
    gate = IdentifyGate(max_concurrency=1)
    gate.reserve(0, 1000.0)  # another shard took the slot at t=1000
    h = _shard(gate, 0, 1)
    h.session.connect()
    h.open()
    h.hello()  # slot at 1005, held
    h.close(None)  # the connection dies before it: the held IDENTIFY must not fire
    h.run_until(1000.5)
    h.open()
    h.hello()  # the slot came back: the new connection takes 1005 again, not 1010
    h.run_until(1004.9)
    assert 2 not in h.sent_ops()
    h.run_until(1005.0)
    assert h.sent_ops().count(2) == 1


def test_gate_release_frees_the_slot_for_anyone() -> None:
    gate = IdentifyGate(max_concurrency=1)
    assert gate.reserve(0, 0.0) == 0.0
    assert gate.reserve(1, 0.0) == 5.0
    assert gate.reserve(2, 0.0) == 10.0
    gate.release(1, 5.0)  # shard 1's connection died while it waited
    assert gate.reserve(3, 1.0) == 5.0  # the gap is reused
    assert gate.reserve(4, 1.0) == 15.0  # the later slots still hold
    gate.release(4, 99.0)  # releasing a slot nobody holds changes nothing
    assert gate.pending(0, 1.0) == [0.0, 5.0, 10.0, 15.0]


def test_gate_fits_a_new_slot_only_into_a_whole_window() -> None:
    gate = IdentifyGate(max_concurrency=1)
    gate.reserve(0, 0.0)
    gate.reserve(0, 0.0)  # 5
    gate.reserve(0, 0.0)  # 10
    gate.release(0, 5.0)
    # At t=3 the gap 5..10 is a whole window: the slot is 5, neither 3 (too close to 0)
    # nor 15.
    assert gate.reserve(0, 3.0) == 5.0
    assert gate.reserve(0, 3.0) == 15.0


def _identify_times(h: Harness) -> list[float]:
    h.drain()
    return [t for t, a in h.log if isinstance(a, SendPayload) and a.payload["op"] == 2]


@pytest.mark.parametrize("deaths", [1, 3, 8])
def test_deaths_while_waiting_for_a_slot_do_not_stack(deaths: int) -> None:
    """Each death while IDENTIFY waits costs only the backoff, never another window.

    The connection dies 1 s after each HELLO, whether its IDENTIFY went out or still
    waits; every IDENTIFY goes at the earliest moment the rule allows: at HELLO, or 5 s
    after the bucket's previous IDENTIFY (another shard's at t=1000, or its own).
    """
    gate = IdentifyGate(max_concurrency=1)
    h = _shard(gate, 0, 1)
    allowed = h.clock.now + gate.window
    gate.reserve(0, h.clock.now)  # another shard identified just now
    h.session.connect()
    held = 0
    for attempt in range(deaths + 1):
        h.open()
        hello_at = h.clock.now
        before = len(_identify_times(h))
        h.hello()
        h.drain()  # stamp an IDENTIFY sent at once with the HELLO's time
        h.run_for(1.0 if attempt < deaths else 6.0)
        sent = _identify_times(h)[before:]
        if sent:
            assert sent == [max(hello_at, allowed)]
            allowed = sent[0] + gate.window
        else:
            held += 1
            assert hello_at + 1.0 < allowed  # it really had to wait
        if attempt == deaths:
            assert sent
            break
        h.close(None)
        if not h.session.is_connecting:  # the first retry is immediate, later ones back off
            h.run_until(h.session.next_deadline() or 0.0)
    assert held >= 1


def test_death_right_after_identify_keeps_the_slot() -> None:
    """An IDENTIFY that went out counts at the gateway even if its connection died."""
    gate = IdentifyGate(max_concurrency=1)
    h = _shard(gate, 0, 1)
    h.session.connect()
    h.open()
    h.hello()
    assert _identify_times(h) == [1000.0]
    h.close(4000)  # right after IDENTIFY, before READY
    assert h.session.is_connecting
    h.open()
    h.hello()
    h.run_for(10.0)
    first, second = _identify_times(h)
    assert second - first >= gate.window


def test_a_driver_margin_widens_every_gap() -> None:
    gate = IdentifyGate(max_concurrency=1, margin=0.1)
    assert [gate.reserve(shard, 0.0) for shard in range(3)] == [0.0, 5.1, 10.2]
