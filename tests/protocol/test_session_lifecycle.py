"""Connect, IDENTIFY, READY, guilds, RESUMED, sequence tracking, the identify payload."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from gateway_harness import BASE_URL, RESUME_URL, Harness

from birbctl.errors import ConfigError, LocalProtocolError
from birbctl.protocol.events import (
    DispatchReceived,
    OpenConnection,
    ProtocolViolation,
    StatusChanged,
)
from birbctl.protocol.status import GatewayStatus as S


def test_connect_identify_ready_status_sequence() -> None:
    h = Harness()
    assert h.session.status is S.IDLE
    h.session.connect()
    assert h.all(OpenConnection) == [OpenConnection(BASE_URL + "?v=10&encoding=json")]
    assert h.session.is_connecting
    h.open()
    assert h.session.is_connected and h.session.connected_since == h.clock.now
    assert h.sent() == []  # nothing before HELLO
    h.hello()
    assert h.sent_ops() == [2]
    assert h.session.heartbeat_interval == 41250
    h.ready()
    assert h.statuses() == [S.CONNECTING, S.IDENTIFYING, S.READY]
    assert h.session.session_id == "sess-1"
    assert h.session.resume_gateway_url == RESUME_URL
    assert h.session.has_been_ready
    assert h.session.counters.identifies == 1


def test_identify_payload() -> None:
    presence = {"status": "online", "afk": False, "since": None, "activities": []}
    h = Harness(
        intents=1 | 512,
        shard=(1, 4),
        large_threshold=100,
        presence=presence,
        properties={"device": "ci"},
    )
    h.session.connect()
    h.open()
    h.hello()
    [identify] = h.sent()
    assert identify == {
        "op": 2,
        "d": {
            "token": h.session._token.reveal(),
            "properties": {"os": sys.platform, "browser": "birbctl", "device": "ci"},
            "intents": 513,
            "large_threshold": 100,
            "compress": False,
            "shard": [1, 4],
            "presence": presence,
        },
    }


def test_identify_without_shard_or_presence_and_etf_has_no_compress_flag() -> None:
    h = Harness(encoding="etf", encode=lambda p: repr(p).encode())
    h.session.connect()
    h.open()
    h.hello()
    d = h.sent()[0]["d"]
    assert "shard" not in d and "presence" not in d and "compress" not in d
    assert h.all(OpenConnection)[0].url.endswith("encoding=etf")


def test_ready_with_guilds_waits_for_each_guild_create() -> None:
    h = Harness()
    h.session.connect()
    h.open()
    h.hello()
    h.ready(guilds=["10", "20", "30"])
    assert h.session.status is S.WAITING_FOR_GUILDS
    assert h.session.expected_guilds == {"10", "20", "30"}
    h.dispatch("GUILD_CREATE", {"id": "10"}, 2)
    h.dispatch("GUILD_CREATE", {"id": 20}, 3)  # ETF may give integers
    assert h.session.status is S.WAITING_FOR_GUILDS
    assert h.session.expected_guilds == {"30"}
    h.dispatch("GUILD_CREATE", {"id": "30"}, 4)
    assert h.session.status is S.READY
    assert h.session.expected_guilds == set()
    [last] = [a for a in h.all(StatusChanged) if a.new is S.READY]
    assert "all guilds" in last.reason
    assert h.session.next_deadline() is not None  # only the heartbeat remains


def test_guild_ready_timeout_goes_ready_and_says_so() -> None:
    h = Harness(guild_ready_timeout=10.0)
    h.session.connect()
    h.open()
    h.hello()
    h.ack_each_beat(0)  # nothing yet
    h.ready(guilds=["1", "2", "3"])
    h.clock.advance(9.0)
    h.dispatch("GUILD_CREATE", {"id": "1"}, 2)  # an arrival restarts the wait
    h.ack_each_beat(9.9)
    assert h.session.status is S.WAITING_FOR_GUILDS
    h.ack_each_beat(0.1)
    assert h.session.status is S.READY
    change = h.all(StatusChanged)[-1]
    assert change.new is S.READY
    assert "2 guild(s) did not arrive" in change.reason
    assert h.session.expected_guilds == {"2", "3"}  # still shown as missing


def test_resumed_goes_ready_and_replayed_events_advance_sequence() -> None:
    h = Harness()
    h.connect_ready()
    h.dispatch("MESSAGE_CREATE", {}, 7)
    h.forget()
    h.close(1006)
    h.open()
    h.hello()
    assert h.sent()[-1] == {
        "op": 6,
        "d": {"token": h.session._token.reveal(), "session_id": "sess-1", "seq": 7},
    }
    assert h.session.status is S.RESUMING
    h.dispatch("MESSAGE_CREATE", {}, 8)
    h.dispatch("MESSAGE_UPDATE", {}, 9)
    assert h.session.sequence == 9
    assert h.session.status is S.RESUMING
    h.dispatch("RESUMED", {}, 10)
    assert h.session.status is S.READY
    assert h.session.sequence == 10
    assert h.session.last_resume == h.clock.now
    assert h.session.counters.resumes == 1
    assert "2 event(s) replayed" in h.all(StatusChanged)[-1].reason
    assert h.statuses() == [S.RECONNECTING, S.CONNECTING, S.RESUMING, S.READY]


def test_sequence_tracks_last_dispatch_s_only_upwards() -> None:
    h = Harness()
    h.connect_ready()
    seen: list[int | None] = []
    for s in (2, 3, None, 1, 5, 4):
        h.dispatch("TYPING_START", {}, s)
        seen.append(h.session.sequence)
    assert seen == [2, 3, 3, 3, 5, 5]
    h.session.receive_payload({"op": 0, "t": "X", "s": True, "d": {}})  # a bool is not a seq
    assert h.session.sequence == 5


def test_dispatches_are_notified_and_counted() -> None:
    h = Harness()
    h.connect_ready()
    h.dispatch("MESSAGE_CREATE", {"content": "hi"}, 2)
    h.dispatch("MESSAGE_CREATE", {"content": "again"}, 3)
    assert h.all(DispatchReceived) == [
        DispatchReceived("MESSAGE_CREATE", 2, {"content": "hi"}),
        DispatchReceived("MESSAGE_CREATE", 3, {"content": "again"}),
    ]
    counters = h.session.counters
    assert counters.dispatch_counts == {"READY": 1, "MESSAGE_CREATE": 2}
    assert counters.dispatches == 3
    assert counters.events_received == 4  # HELLO, READY and the two dispatches


def test_payload_without_op_is_a_remote_error_that_closes_to_resume() -> None:
    h = Harness()
    h.connect_ready()
    h.session.receive_payload({"t": "X", "d": {}})
    [violation] = h.all(ProtocolViolation)
    assert violation.closing and "op" in violation.message
    assert h.session.status is S.RECONNECTING
    h.close(4000)
    assert h.all(OpenConnection)[-1].url.startswith(RESUME_URL)


def test_unknown_opcode_is_reported_not_fatal() -> None:
    h = Harness()
    h.connect_ready()
    h.op(42, {})
    [violation] = h.all(ProtocolViolation)
    assert not violation.closing
    assert h.session.status is S.READY


def test_undecodable_frame_closes_to_resume() -> None:
    h = Harness()
    h.connect_ready()
    h.session.receive_error(ValueError("invalid zlib stream"))
    [violation] = h.all(ProtocolViolation)
    assert violation.closing and "invalid zlib stream" in violation.message
    assert h.session.status is S.RECONNECTING
    h.close(4000)
    h.open()
    h.hello()
    assert h.sent_ops()[-1] == 6


def test_no_hello_in_time_closes_and_retries() -> None:
    h = Harness(hello_timeout=20.0)
    h.session.connect()
    h.open()
    h.run_for(19.9)
    assert h.session.status is S.CONNECTING
    h.run_for(0.1)
    assert h.session.status is S.RECONNECTING
    h.close(4000)
    assert len(h.all(OpenConnection)) == 2


def test_hello_without_interval_is_a_protocol_error() -> None:
    h = Harness()
    h.session.connect()
    h.open()
    h.op(10, {"heartbeat_interval": "soon"})
    assert h.all(ProtocolViolation)[0].closing
    assert h.sent() == []


def test_connect_twice_is_local_misuse() -> None:
    h = Harness()
    h.session.connect()
    with pytest.raises(LocalProtocolError):
        h.session.connect()
    with pytest.raises(LocalProtocolError):
        h.session.receive_payload({"op": 11})  # not open yet


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token": ""},
        {"intents": -1},
        {"shard": (2, 2)},
        {"large_threshold": 10},
        {"encoding": "xml"},
        {"compress": "gzip"},
        {"gateway_url": "https://discord.com"},
        {"presence": {"activities": [{"name": "x" * 5000}]}},
        {"backoff_cap": 0.5},
    ],
)
def test_bad_configuration_is_a_config_error(kwargs: dict[str, Any]) -> None:
    from birbctl.protocol.session import GatewaySession

    options: dict[str, Any] = {"token": "abc", "intents": 0}
    options.update(kwargs)
    token = options.pop("token")
    with pytest.raises(ConfigError):
        GatewaySession(token, **options)
