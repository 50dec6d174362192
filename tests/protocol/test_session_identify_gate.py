"""Identify concurrency: max_concurrency IDENTIFYs per 5 s, bucket shard_id % max_concurrency."""

from __future__ import annotations

import pytest
from gateway_harness import Harness

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
    h.hello()  # the new connection takes the next slot, 1010
    h.run_until(1009.9)
    assert 2 not in h.sent_ops()
    h.run_until(1010.0)
    assert h.sent_ops().count(2) == 1
