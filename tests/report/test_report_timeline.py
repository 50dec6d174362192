"""The timeline model from hand-built record sequences: every connection and how it ended
(code and side), the marks, the round trips, the rates, and the gaps with how long each
recovery took. No files, no plotly."""

from __future__ import annotations

from typing import Any

import pytest

from birbctl.capture.message import Message
from birbctl.report.timeline import (
    CLIENT,
    DROPPED,
    MAX_BINS,
    MAX_TYPES,
    OTHER,
    SERVER,
    STILL_OPEN,
    Closed,
    Opened,
    Record,
    build_timeline,
    close_side,
)

S0 = (0, 1)


def recv(t: float, conn: int, payload: dict[str, Any], shard: Any = S0) -> Message:
    return Message(payload, 0, 0, 0, 0, t, conn, "recv", "text", shard)


def send(t: float, conn: int, payload: dict[str, Any], shard: Any = S0) -> Message:
    return Message(payload, 0, 0, 0, 0, t, conn, "send", "text", shard)


def dispatch(t: float, conn: int, name: str, shard: Any = S0) -> Message:
    return recv(t, conn, {"op": 0, "t": name, "s": 1, "d": {}}, shard)


HELLO = {"op": 10, "d": {"heartbeat_interval": 1000}}
IDENTIFY = {"op": 2, "d": {"token": "[REDACTED]"}}
RESUME = {"op": 6, "d": {"token": "[REDACTED]", "session_id": "s", "seq": 3}}
BEAT = {"op": 1, "d": 3}
ACK = {"op": 11, "d": None}


def session() -> list[Record]:
    """Identify, op 7 and resume, a drop and resume, op 9 and identify again, and a last
    connection the server closes with 4004 (never retried: the session ended there)."""
    return [
        Opened(100.0, 1, S0),
        recv(100.01, 1, HELLO),
        send(100.02, 1, IDENTIFY),
        dispatch(100.05, 1, "READY"),
        dispatch(100.5, 1, "MESSAGE_CREATE"),
        send(101.0, 1, BEAT),
        recv(101.02, 1, ACK),  # 20 ms
        recv(102.0, 1, {"op": 7, "d": None}),
        Closed(102.01, 1, "send", 4000, "the gateway asked for a reconnect (op 7)"),
        Opened(102.02, 2, S0),
        send(102.03, 2, RESUME),
        dispatch(102.06, 2, "RESUMED"),  # back 50 ms after the close
        dispatch(102.5, 2, "MESSAGE_CREATE"),
        send(103.0, 2, BEAT),
        recv(103.4, 2, ACK),  # 400 ms
        Closed(104.0, 2, "recv", None, "connection lost (no close frame)"),
        Opened(104.5, 3, S0),
        send(104.51, 3, RESUME),
        dispatch(104.52, 3, "RESUMED"),  # 520 ms
        recv(105.0, 3, {"op": 9, "d": False}),
        Closed(105.1, 3, "send", 4000, "invalid session: starting a new one"),
        Opened(106.0, 4, S0),
        send(106.01, 4, IDENTIFY),
        dispatch(108.1, 4, "READY"),  # 3 s after the close
        send(109.0, 4, BEAT),
        recv(109.03, 4, ACK),  # 30 ms
        Closed(110.0, 4, "recv", 4004, "Authentication failed."),
    ]


def test_every_connection_with_its_close_code_and_side() -> None:
    timeline = build_timeline(session())
    got = [
        (c.conn, c.opened, c.closed, c.code, c.side, c.began, c.ready_as)
        for c in timeline.connections
    ]
    assert got == [
        (1, 0.0, 2.01, 4000, CLIENT, "identify", "READY"),
        (2, 2.02, 4.0, None, DROPPED, "resume", "RESUMED"),
        (3, 4.5, 5.1, 4000, CLIENT, "resume", "RESUMED"),
        (4, 6.0, 10.0, 4004, SERVER, "identify", "READY"),
    ]
    assert timeline.start == 100.0 and timeline.end == 110.0
    assert [c.events for c in timeline.connections] == [2, 2, 1, 1]
    assert timeline.connections[3].reason == "Authentication failed."
    assert all(c.open_line for c in timeline.connections)


def test_recoveries_run_from_a_close_to_the_next_ready_or_resumed() -> None:
    timeline = build_timeline(session())
    got = [(r.conn, r.code, r.side, r.down, r.up, r.seconds, r.via) for r in timeline.recoveries]
    assert got == [
        (1, 4000, CLIENT, 2.01, 2.06, 0.05, "RESUMED"),
        (2, None, DROPPED, 4.0, 4.52, 0.52, "RESUMED"),
        (3, 4000, CLIENT, 5.1, 8.1, 3.0, "READY"),
    ]  # and none after the last close: nothing tried again, the session ended there
    assert timeline.summary.longest_recovery == 3.0
    assert timeline.summary.unrecovered == 0


def test_marks_say_op_7_op_9_identify_resume_ready_resumed() -> None:
    timeline = build_timeline(session())
    got = [(m.t, m.conn, m.kind) for m in timeline.marks]
    assert got == [
        (0.02, 1, "identify"),
        (0.05, 1, "ready"),
        (2.0, 1, "reconnect"),
        (2.03, 2, "resume"),
        (2.06, 2, "resumed"),
        (4.51, 3, "resume"),
        (4.52, 3, "resumed"),
        (5.0, 3, "invalid_session"),
        (6.01, 4, "identify"),
        (8.1, 4, "ready"),
    ]
    assert timeline.marks[7].label == "op 9 INVALID_SESSION (not resumable)"


def test_summary_counts_and_round_trips() -> None:
    timeline = build_timeline(session())
    s = timeline.summary
    assert (s.connections, s.duration, s.events) == (4, 10.0, 6)
    assert (s.resumes, s.resumed, s.reidentifies) == (2, 2, 1)
    assert s.closes == {"4000": 2, "none": 1, "4004": 1}
    assert [(p.conn, p.ms) for p in timeline.pings] == [(1, 20.0), (2, 400.0), (4, 30.0)]
    assert [p.t for p in timeline.pings] == [1.02, 3.4, 9.03]
    assert (s.ping_samples, s.ping_p50, s.ping_p95, s.ping_max) == (3, 30.0, 400.0, 400.0)


def test_events_per_second_by_type() -> None:
    timeline = build_timeline(session())
    rates = timeline.rates
    assert rates.width == 1.0
    assert rates.starts == [float(i) for i in range(11)]
    assert rates.by_type["MESSAGE_CREATE"] == [1.0, 0, 1.0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert rates.by_type["READY"][0] == 1.0 and rates.by_type["READY"][8] == 1.0
    assert rates.by_type["RESUMED"][2] == 1.0 and rates.by_type["RESUMED"][4] == 1.0
    assert timeline.events_by_type == {"MESSAGE_CREATE": 2, "READY": 2, "RESUMED": 2}


def test_side_of_a_close() -> None:
    assert close_side("send", 4000) == CLIENT
    assert close_side("send", None) == CLIENT  # birbctl dropped it (terminate)
    assert close_side("recv", 4000) == SERVER
    assert close_side("recv", None) == DROPPED


def test_a_connection_open_at_the_end_and_a_gap_not_recovered() -> None:
    timeline = build_timeline(
        [
            Opened(0.0, 1, S0),
            dispatch(0.1, 1, "READY"),
            Closed(1.0, 1, "recv", 4000, ""),
            Opened(1.5, 2, S0),
            send(1.6, 2, RESUME),
            dispatch(1.7, 2, "MESSAGE_CREATE"),  # no RESUMED: still down
            Closed(2.0, 2, "send", None, "terminated"),
            Opened(2.5, 3, S0),
            send(2.6, 3, RESUME),
        ]
    )
    assert [(c.conn, c.closed, c.code, c.side) for c in timeline.connections] == [
        (1, 1.0, 4000, SERVER),
        (2, 2.0, None, CLIENT),
        (3, None, None, STILL_OPEN),
    ]
    [gap] = timeline.recoveries
    assert (gap.conn, gap.down, gap.up, gap.seconds, gap.via) == (1, 1.0, None, None, None)
    assert timeline.summary.unrecovered == 1
    assert timeline.summary.longest_recovery is None
    assert timeline.summary.closes == {"4000": 1, "none": 1}


def test_a_capture_that_starts_inside_a_connection() -> None:
    timeline = build_timeline(
        [
            dispatch(50.0, 7, "MESSAGE_CREATE"),
            Closed(51.0, 7, "recv", 1001, "going away"),
            Opened(51.2, 8, S0),
            send(51.3, 8, RESUME),
            dispatch(51.4, 8, "RESUMED"),
        ]
    )
    first, second = timeline.connections
    assert (first.conn, first.opened, first.open_line, first.began) == (7, 0.0, False, None)
    assert (second.conn, second.open_line) == (8, True)
    assert [(r.conn, r.seconds) for r in timeline.recoveries] == [(7, 0.4)]


def test_shards_recover_and_identify_independently() -> None:
    a, b = (0, 2), (1, 2)
    timeline = build_timeline(
        [
            Opened(0.0, 1, a),
            send(0.1, 1, IDENTIFY, a),
            dispatch(0.2, 1, "READY", a),
            Opened(0.0, 2, b),
            send(0.1, 2, IDENTIFY, b),  # the first IDENTIFY of shard 1: not a re-identify
            dispatch(0.3, 2, "READY", b),
            Closed(1.0, 1, "recv", None, ""),
            Closed(2.0, 2, "recv", 4000, ""),
            Opened(2.1, 3, b),
            send(2.2, 3, RESUME, b),
            dispatch(2.5, 3, "RESUMED", b),
            Opened(3.0, 4, a),
            send(3.1, 4, IDENTIFY, a),  # shard 0 again: one re-identify
            dispatch(4.0, 4, "READY", a),
        ]
    )
    got = [(r.shard, r.conn, r.down, r.up, r.via) for r in timeline.recoveries]
    assert got == [(a, 1, 1.0, 4.0, "READY"), (b, 2, 2.0, 2.5, "RESUMED")]
    assert timeline.summary.reidentifies == 1
    assert timeline.shards == [a, b]


def test_a_beat_answers_only_on_its_own_connection() -> None:
    timeline = build_timeline(
        [
            Opened(0.0, 1, S0),
            recv(0.5, 1, ACK),  # no beat went out: nothing to measure
            send(1.0, 1, BEAT),
            Closed(1.1, 1, "send", 4000, ""),
            Opened(1.2, 2, S0),
            recv(1.3, 2, ACK),  # the beat was on connection 1
            send(2.0, 2, BEAT),
            send(3.0, 2, BEAT),  # unanswered beat replaced: timed from the newest
            recv(3.25, 2, ACK),
        ]
    )
    assert [(p.conn, p.ms) for p in timeline.pings] == [(2, 250.0)]


def test_many_event_types_fold_into_other() -> None:
    records: list[Record] = [Opened(0.0, 1, S0)]
    names = [f"TYPE_{i:02d}" for i in range(MAX_TYPES + 5)]
    for i, name in enumerate(names):
        records += [dispatch(0.5, 1, name)] * (100 - i)
    timeline = build_timeline(records)
    assert list(timeline.rates.by_type) == [*names[:MAX_TYPES], OTHER]
    assert timeline.rates.by_type[OTHER] == [sum(100 - i for i in range(MAX_TYPES, len(names)))]
    assert sum(timeline.events_by_type.values()) == timeline.summary.events


def test_a_long_capture_keeps_the_bins_bounded() -> None:
    day = 86400.0
    timeline = build_timeline(
        [
            Opened(0.0, 1, S0),
            dispatch(0.5, 1, "A"),
            dispatch(day - 1, 1, "A"),
            dispatch(day, 1, "A"),
        ]
    )
    rates = timeline.rates
    assert len(rates.starts) <= MAX_BINS + 1
    assert rates.width == 24.0
    assert sum(rates.by_type["A"]) * rates.width == pytest.approx(3)


def test_no_records_is_an_empty_timeline() -> None:
    timeline = build_timeline([])
    assert timeline.connections == [] and timeline.recoveries == []
    assert timeline.summary.connections == 0 and timeline.summary.ping_p50 is None
    assert timeline.rates.starts == []
    assert timeline.to_json()["summary"]["events"] == 0


def test_the_json_holds_no_payload_content() -> None:
    records = session()
    records.insert(4, dispatch(100.3, 1, "MESSAGE_CREATE"))
    records[4].payload["d"] = {"content": "a secret message"}
    text = str(build_timeline(records).to_json())
    assert "secret" not in text and "[REDACTED]" not in text
