"""User sends: which ops, when, the 120/60 s limit with heartbeat slots, the 4096-byte cap."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from gateway_harness import INTERVAL_MS, Harness

from birbctl.errors import LocalProtocolError
from birbctl.protocol.events import PendingSendsDropped, SendPayload
from birbctl.protocol.ratelimit import MAX_PAYLOAD_BYTES

INTERVAL = INTERVAL_MS / 1000


def presence(n: int) -> dict[str, Any]:
    return {
        "op": 3,
        "d": {"since": None, "activities": [], "status": "online", "afk": False, "n": n},
    }


def user_sends(h: Harness) -> list[tuple[float, SendPayload]]:
    h.drain()
    return [(t, a) for t, a in h.log if isinstance(a, SendPayload) and a.op == 3]


def all_sends(h: Harness) -> list[float]:
    h.drain()
    return [t for t, a in h.log if isinstance(a, SendPayload)]


def test_send_goes_out_when_ready() -> None:
    h = Harness()
    h.connect_ready()
    h.session.send({"op": 8, "d": {"guild_id": "1", "query": "", "limit": 0}})
    [sent] = h.all(SendPayload)
    assert sent.payload == {"op": 8, "d": {"guild_id": "1", "query": "", "limit": 0}}
    assert sent.heartbeat is False
    assert sent.data == b'{"op":8,"d":{"guild_id":"1","query":"","limit":0}}'


@pytest.mark.parametrize("op", [3, 4, 8, 31, 43])
def test_user_ops_are_accepted(op: int) -> None:
    h = Harness()
    h.connect_ready()
    h.session.send({"op": op, "d": {}})
    assert h.sent_ops() == [op]


@pytest.mark.parametrize("op", [0, 1, 2, 6, 7, 9, 10, 11, 99, None, "3", True])
def test_ops_the_session_owns_or_that_do_not_exist_are_refused(op: object) -> None:
    h = Harness()
    h.connect_ready()
    with pytest.raises(LocalProtocolError):
        h.session.send({"op": op, "d": {}})
    assert h.sent() == []


def test_send_before_connect_or_after_close_is_local_misuse() -> None:
    h = Harness()
    with pytest.raises(LocalProtocolError, match="idle"):
        h.session.send(presence(0))
    h.connect_ready()
    h.session.close()
    with pytest.raises(LocalProtocolError, match="disconnected"):
        h.session.send(presence(0))


def test_send_before_ready_waits_for_ready() -> None:
    h = Harness()
    h.session.connect()
    h.session.send(presence(1))  # still opening
    h.open()
    h.hello()
    assert h.sent_ops() == [2]
    assert h.session.pending_sends == 1
    h.ready()
    assert h.sent_ops() == [2, 3]
    assert h.session.limiter_waits == 0  # it waited for READY, not for the rate limit


def test_sends_queued_while_reconnecting_go_after_resumed() -> None:
    h = Harness()
    h.connect_ready()
    h.op(7)
    h.session.send(presence(1))
    h.close(4000)
    h.open()
    h.hello()
    assert h.sent_ops()[-1] == 6
    h.dispatch("RESUMED", {}, 2)
    assert h.sent_ops()[-1] == 3


def test_presence_update_is_kept_for_the_next_identify() -> None:
    h = Harness()
    h.connect_ready()
    h.session.send(presence(7))
    h.close(4009)  # identify again
    h.open()
    h.hello()
    assert h.sent()[-1]["d"]["presence"]["n"] == 7


def test_payload_over_4096_bytes_raises_before_anything_is_sent() -> None:
    h = Harness()
    h.connect_ready()
    big = {"op": 8, "d": {"guild_id": "1", "query": "x" * 5000, "limit": 0}}
    with pytest.raises(LocalProtocolError) as info:
        h.session.send(big)
    message = str(info.value)
    assert "5" in message and "bytes" in message and str(MAX_PAYLOAD_BYTES) in message
    assert h.all(SendPayload) == []
    assert h.session.pending_sends == 0


def test_payload_of_exactly_4096_bytes_is_sent() -> None:
    h = Harness()
    h.connect_ready()
    frame = {"op": 8, "d": {"q": ""}}
    pad = MAX_PAYLOAD_BYTES - len(b'{"op":8,"d":{"q":""}}')
    frame["d"]["q"] = "x" * pad
    h.session.send(frame)
    [sent] = h.all(SendPayload)
    assert len(sent.data) == MAX_PAYLOAD_BYTES


def test_text_payload_size_counts_utf8_bytes() -> None:
    import json

    h = Harness(encode=lambda p: json.dumps(p, ensure_ascii=False))
    h.connect_ready()
    with pytest.raises(LocalProtocolError):
        h.session.send({"op": 8, "d": {"query": "é" * 2100}})  # 2100 chars, 4200 bytes


def test_rate_limit_queues_releases_and_keeps_heartbeat_slots() -> None:
    h = Harness()
    h.connect_ready()  # IDENTIFY went at t0
    t0 = h.clock.now
    for n in range(300):
        h.session.send(presence(n))
    # 120 per 60 s, 3 kept for heartbeats at a 41.25 s interval, 1 used by IDENTIFY
    first_batch = user_sends(h)
    assert len(first_batch) == 120 - 3 - 1
    assert h.session.pending_sends == 300 - 116
    assert h.session.limiter_waits == 300 - 116
    h.ack_each_beat(200.0)
    sent = user_sends(h)
    assert [a.payload["d"]["n"] for _, a in sent] == list(range(300))  # all, in order
    assert h.session.limiter_waits == 300 - 116  # each counted once
    # releases happen as the window frees: at t0 + 60, t0 + 120, ...
    times = sorted({t for t, _ in sent})
    assert times[:2] == [t0, pytest.approx(t0 + 60.0)]
    # every heartbeat went exactly on schedule despite the flood
    beat_times = [t for t, a in h.log if isinstance(a, SendPayload) and a.heartbeat]
    gaps = [b - a for a, b in itertools.pairwise(beat_times)]
    assert gaps == pytest.approx([INTERVAL] * len(gaps))
    # and no 60 s window ever held more than 120 sends
    everything = all_sends(h)
    for i, start in enumerate(everything):
        in_window = [t for t in everything[i:] if t < start + 60.0]
        assert len(in_window) <= 120


def test_next_deadline_points_at_the_next_free_slot() -> None:
    h = Harness()
    h.connect_ready()
    t0 = h.clock.now
    for n in range(117):
        h.session.send(presence(n))
    assert h.session.pending_sends == 1
    beat = h.session.next_deadline()
    assert beat is not None and beat < t0 + 60  # the first heartbeat comes first
    h.ack_each_beat(beat - h.clock.now)
    assert h.session.next_deadline() == pytest.approx(t0 + 60.0)


def test_queued_sends_are_dropped_with_notice_when_the_session_ends() -> None:
    h = Harness()
    h.session.connect()
    h.session.send(presence(1))
    h.session.send(presence(2))
    h.open()
    h.hello()
    h.close(4004)
    [dropped] = h.all(PendingSendsDropped)
    assert dropped.count == 2
    assert h.session.pending_sends == 0


def test_presence_that_would_overflow_identify_is_sent_but_not_kept() -> None:
    h = Harness(presence={"status": "online", "activities": [], "afk": False, "since": None})
    h.connect_ready()
    big = {"status": "dnd", "activities": [{"name": "x" * 3900, "type": 0}], "afk": False}
    h.session.send({"op": 3, "d": big})  # fits alone (under 4096 bytes)
    assert h.sent_ops() == [3]
    assert h.session.presence is not None and h.session.presence["status"] == "online"
