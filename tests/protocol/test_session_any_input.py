"""Whatever the gateway sends, in whatever order, and whatever the user asks meanwhile:
the session raises nothing but LocalProtocolError for a user's misuse (and then changes
nothing), every phase and status change is one the transition tables allow, and it never
schedules a tick in the past forever. Hypothesis draws the sequences; fake clock, no
socket."""

from __future__ import annotations

from typing import Any

from gateway_harness import Harness
from hypothesis import example, given, settings
from hypothesis import strategies as st

from birbctl.errors import LocalProtocolError
from birbctl.protocol.events import OpenConnection, StatusChanged
from birbctl.protocol.identify import IdentifyGate
from birbctl.protocol.status import PHASE_TRANSITIONS, Phase, may_change


def _reachable() -> dict[Phase, frozenset[Phase]]:
    """Each phase, and every phase the table lets it reach in one or more changes."""
    out: dict[Phase, frozenset[Phase]] = {}
    for start in Phase:
        seen, todo = {start}, [start]
        while todo:
            for nxt in PHASE_TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        out[start] = frozenset(seen)
    return out


REACHABLE = _reachable()

_payloads = st.one_of(
    st.just({"op": 10, "d": {"heartbeat_interval": 1000}}),
    st.just({"op": 10, "d": None}),
    st.just({"op": 11}),
    st.just({"op": 1}),
    st.just({"op": 7}),
    st.builds(lambda d: {"op": 9, "d": d}, st.sampled_from([True, False, None])),
    st.builds(
        lambda t, s: {
            "op": 0,
            "t": t,
            "s": s,
            "d": {
                "session_id": "x",
                "guilds": [{"id": "1"}],
                "resume_gateway_url": "wss://r",
                "id": "1",
            },
        },
        st.sampled_from(["READY", "RESUMED", "GUILD_CREATE", "MESSAGE_CREATE"]),
        st.integers(-1, 50) | st.none(),
    ),
    st.builds(lambda op: {"op": op}, st.integers(-5, 100)),
    st.just({"d": 1}),
)

_steps = st.lists(
    st.one_of(
        # Payloads and opens weigh more: most of what happens is the gateway talking.
        st.tuples(st.just("payload"), _payloads),
        st.tuples(st.just("payload"), _payloads),
        st.tuples(st.just("payload"), _payloads),
        st.tuples(st.just("open"), st.none()),
        st.tuples(st.just("open"), st.none()),
        st.tuples(st.just("fail"), st.none()),
        st.tuples(st.just("close"), st.sampled_from([None, 1000, 1006, 4000, 4004, 4007, 4009])),
        st.tuples(st.just("time"), st.floats(0, 30)),
        st.tuples(st.just("error"), st.none()),
        st.tuples(
            st.just("user"),
            st.sampled_from(
                [
                    "reconnect",
                    "fresh",
                    "close",
                    "close4000",
                    "terminate",
                    "heartbeat",
                    "prevent",
                    "connect",
                    "send",
                ]
            ),
        ),
    ),
    max_size=60,
)


def _user(h: Harness, what: str) -> None:
    s = h.session
    calls: dict[str, Any] = {
        "reconnect": lambda: s.reconnect(),
        "fresh": lambda: s.reconnect(False),
        "close": lambda: s.close(1000),
        "close4000": lambda: s.close(4000),
        "terminate": s.terminate,
        "heartbeat": s.heartbeat,
        "prevent": s.prevent_reconnect,
        "connect": s.connect,
        "send": lambda: s.send({"op": 3, "d": {"status": "online"}}),
    }
    # A user asking for something the state does not allow is told, not crashed, and
    # the session stays where it was.
    before = s.phase
    try:
        calls[what]()
    except LocalProtocolError as exc:
        assert "internal error" not in str(exc)
        assert s.phase is before


_HELLO = {"op": 10, "d": {"heartbeat_interval": 1000}}
_HELLO_SLOW = {"op": 10, "d": {"heartbeat_interval": 41250}}
_READY = {"op": 0, "t": "READY", "s": 1, "d": {"session_id": "x", "guilds": [{"id": "1"}]}}
_RESUMED = {"op": 0, "t": "RESUMED", "s": 2, "d": None}


@settings(max_examples=500, deadline=None, derandomize=True)
@given(_steps)
@example([("open", None), ("payload", _READY)])  # READY before HELLO
@example([("open", None), ("payload", _RESUMED)])  # RESUMED with nothing to resume
@example(
    [
        ("open", None),
        ("payload", {"op": 10, "d": {"heartbeat_interval": 1000}}),
        ("payload", _READY),
        ("payload", _READY),
    ]
)  # a second READY
@example([("user", "close"), ("user", "connect"), ("open", None), ("time", 25.0)])
@example([("open", None), ("payload", _READY), ("payload", _HELLO)])  # HELLO after READY
@example(
    [
        ("open", None),
        ("payload", _HELLO),
        ("user", "reconnect"),
        ("close", 4000),
        ("open", None),
        ("payload", _HELLO_SLOW),  # the identify slot is 5 s away: IDENTIFY waits
        ("payload", _READY),  # READY comes anyway
        ("time", 10.0),
    ]
)
def test_any_sequence_keeps_the_session_consistent(steps: list[tuple[str, Any]]) -> None:
    h = Harness(shard=(0, 1), identify_gate=IdentifyGate())
    h.session.connect()
    phase = h.session.phase
    opening = True
    for kind, arg in steps:
        s = h.session
        assert s.phase in REACHABLE[phase]
        phase = s.phase
        assert s.status is phase.status
        assert (s.is_connected, s.is_connecting) == (phase.connected, phase.connecting)
        actions = h.drain()
        opening = opening or any(isinstance(a, OpenConnection) for a in actions)
        if kind == "open" and s.is_connecting:
            s.connection_opened()
        elif kind == "fail":
            s.connection_failed("refused")
        elif kind == "close":
            s.connection_closed(arg)
        elif kind == "payload" and s.is_connected:
            s.receive_payload(arg)
        elif kind == "error":
            s.receive_error("corrupt")
        elif kind == "time":
            h.run_for(arg)
        elif kind == "user":
            _user(h, arg)
    h.drain()
    assert h.session.phase in REACHABLE[phase]
    for change in h.all(StatusChanged):
        assert may_change(change.old, change.new)
    deadline = h.session.next_deadline()
    if deadline is not None:
        h.run_until(deadline + 60)  # ticks settle: no deadline that never moves
