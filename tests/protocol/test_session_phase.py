"""The session's phase keeps to its table: every phase, every input through the public
API, every change the session makes is one `PHASE_TRANSITIONS` lists; an illegal change
raises by itself; status is a function of the phase. Fake clock, no socket."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gateway_harness import Harness

import birbctl.protocol.session as session_module
from birbctl.errors import LocalProtocolError
from birbctl.protocol.events import StatusChanged
from birbctl.protocol.identify import IdentifyGate
from birbctl.protocol.session import GatewaySession
from birbctl.protocol.status import (
    PHASE_TRANSITIONS,
    TRANSITIONS,
    GatewayStatus,
    Phase,
    check_phase_change,
)

P = Phase


def _harness(gate: IdentifyGate | None = None) -> Harness:
    """A session whose identify slot is taken at the start, so a HELLO within 5 s waits."""
    gate = gate if gate is not None else IdentifyGate()
    gate.reserve(0, 1000.0)
    return Harness(shard=(0, 1), identify_gate=gate)


def _live(h: Harness) -> None:
    h.session.connect()
    h.open()


#: A way into every phase from a new session, through the public API only.
RECIPES: dict[Phase, Callable[[Harness], None]] = {
    P.IDLE: lambda h: None,
    P.OPENING: lambda h: h.session.connect(),
    P.AWAITING_HELLO: _live,
    P.IDENTIFY_HELD: lambda h: (_live(h), h.hello()),
    P.IDENTIFYING: lambda h: (_live(h), h.hello(), h.run_for(6)),
    P.RESUMING: lambda h: (
        h.session.set_session_id("sess-0", sequence=3),
        _live(h),
        h.hello(),
    ),
    P.WAITING_FOR_GUILDS: lambda h: (_live(h), h.ready(guilds=["1"])),
    P.READY: lambda h: (_live(h), h.ready()),
    P.CLOSING_TO_RESUME: lambda h: (_live(h), h.ready(), h.op(7)),
    P.CLOSING_TO_IDENTIFY: lambda h: (_live(h), h.ready(), h.session.reconnect(False)),
    P.CLOSING_TO_STOP: lambda h: (_live(h), h.ready(), h.session.close(4000)),
    P.ABORTING_TO_RESUME: lambda h: (h.session.connect(), h.session.terminate()),
    P.ABORTING_TO_IDENTIFY: lambda h: (h.session.connect(), h.session.reconnect(False)),
    P.ABORTING_TO_STOP: lambda h: (h.session.connect(), h.session.close(4000)),
    P.RECONNECT_WAIT: lambda h: (
        h.session.connect(),
        h.session.connection_failed("refused"),
        h.session.connection_failed("refused"),
    ),
    P.STOPPED: lambda h: (
        h.session.connect(),
        h.session.prevent_reconnect(),
        h.session.connection_failed("refused"),
    ),
}

_HELLO = {"op": 10, "d": {"heartbeat_interval": 1000}}
_READY = {"op": 0, "t": "READY", "s": 1, "d": {"session_id": "x", "guilds": [{"id": "1"}]}}


def _inputs() -> dict[str, Callable[[GatewaySession, Harness], Any]]:
    """Every way in: the driver's events, the gateway's payloads, time, the user."""
    payloads: dict[str, dict[str, Any]] = {
        "hello": _HELLO,
        "hello_bad": {"op": 10, "d": None},
        "ready": _READY,
        "ready_no_guilds": {"op": 0, "t": "READY", "s": 1, "d": {"session_id": "x"}},
        "resumed": {"op": 0, "t": "RESUMED", "s": 2, "d": None},
        "guild_create": {"op": 0, "t": "GUILD_CREATE", "s": 3, "d": {"id": "1"}},
        "dispatch": {"op": 0, "t": "MESSAGE_CREATE", "s": 4, "d": {}},
        "ack": {"op": 11},
        "beat": {"op": 1},
        "op7": {"op": 7},
        "op9_true": {"op": 9, "d": True},
        "op9_false": {"op": 9, "d": False},
        "op_unknown": {"op": 99},
        "no_op": {"d": 1},
    }
    inputs: dict[str, Callable[[GatewaySession, Harness], Any]] = {
        f"payload:{name}": (lambda s, h, p=p: s.receive_payload(p)) for name, p in payloads.items()
    }
    inputs.update(
        {
            "opened": lambda s, h: s.connection_opened(),
            "failed": lambda s, h: s.connection_failed("refused"),
            "closed:none": lambda s, h: s.connection_closed(None),
            "closed:1000": lambda s, h: s.connection_closed(1000),
            "closed:4000": lambda s, h: s.connection_closed(4000),
            "closed:4004": lambda s, h: s.connection_closed(4004),
            "closed:4009": lambda s, h: s.connection_closed(4009),
            "error": lambda s, h: s.receive_error("corrupt"),
            "tick:now": lambda s, h: s.tick(),
            "tick:30s": lambda s, h: (h.clock.advance(30), s.tick()),
            "tick:90s": lambda s, h: (h.clock.advance(90), s.tick()),
            "user:connect": lambda s, h: s.connect(),
            "user:reconnect": lambda s, h: s.reconnect(),
            "user:reconnect_fresh": lambda s, h: s.reconnect(False),
            "user:reconnect_4001": lambda s, h: s.reconnect(code=4001),
            "user:close": lambda s, h: s.close(),
            "user:close_4000": lambda s, h: s.close(4000),
            "user:terminate": lambda s, h: s.terminate(),
            "user:heartbeat": lambda s, h: s.heartbeat(),
            "user:prevent": lambda s, h: s.prevent_reconnect(),
            "user:send": lambda s, h: s.send({"op": 3, "d": {"status": "online"}}),
        }
    )
    return inputs


INPUTS = _inputs()


@pytest.fixture
def changes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Phase, Phase]]]:
    """Every phase change the session checks, recorded on the way through the table."""
    seen: list[tuple[Phase, Phase]] = []

    def recording(old: Phase, new: Phase) -> None:
        seen.append((old, new))
        check_phase_change(old, new)

    monkeypatch.setattr(session_module, "check_phase_change", recording)
    yield seen


def test_every_phase_has_a_recipe_and_a_row() -> None:
    assert set(RECIPES) == set(Phase) == set(PHASE_TRANSITIONS)
    for phase in Phase:
        h = _harness()
        RECIPES[phase](h)
        assert h.session.phase is phase


@pytest.mark.parametrize("phase", list(Phase), ids=str)
@pytest.mark.parametrize("name", list(INPUTS))
def test_every_input_in_every_phase_keeps_to_the_table(
    phase: Phase, name: str, changes: list[tuple[Phase, Phase]]
) -> None:
    h = _harness()
    RECIPES[phase](h)
    s = h.session
    assert s.phase is phase
    h.forget()
    changes.clear()
    try:
        INPUTS[name](s, h)
    except LocalProtocolError as exc:
        # A refusal (a user's misuse, a payload with no connection) changes nothing.
        assert "internal error" not in str(exc)
        assert s.phase is phase
        assert not changes and not s.actions()
        return
    steps = [phase, *(new for _, new in changes)]
    assert [old for old, _ in changes] == steps[:-1]  # one unbroken path
    assert all(new in PHASE_TRANSITIONS[old] for old, new in changes)
    assert s.phase is steps[-1]
    # Status follows the phase, and says so exactly when it changes.
    shown = [(a.old, a.new) for a in h.all(StatusChanged)]
    expected = [(o.status, n.status) for o, n in changes if o.status is not n.status]
    assert shown == expected
    assert s.status is s.phase.status
    assert s.is_connected is s.phase.connected
    assert s.is_connecting is s.phase.connecting
    assert s.is_closed is not (s.phase.connected or s.phase.connecting)
    deadline = s.next_deadline()
    if deadline is not None:
        h.run_until(deadline + 60)  # and the session goes on from there


def test_an_illegal_change_raises_by_itself() -> None:
    for old in Phase:
        for new in Phase:
            if new is old or new in PHASE_TRANSITIONS[old]:
                check_phase_change(old, new)
            else:
                with pytest.raises(LocalProtocolError, match=f"cannot go from {old} to {new}"):
                    check_phase_change(old, new)


def test_the_session_refuses_an_illegal_change_and_stays_put() -> None:
    h = Harness()
    h.connect_ready()
    with pytest.raises(LocalProtocolError, match="internal error"):
        h.session._set_phase(Phase.IDENTIFYING, "a code path the table does not know")
    assert h.session.phase is Phase.READY and not h.session.actions()


def test_the_phase_changes_in_one_place() -> None:
    source = inspect.getsource(session_module)
    assert len(re.findall(r"self\._phase = ", source)) == 2  # __init__ and _set_phase
    setter = inspect.getsource(GatewaySession._set_phase)
    assert "self._phase = new" in setter and "check_phase_change(old, new)" in setter


def test_the_status_table_is_the_phase_table_seen_through_status() -> None:
    assert {p.status for p in Phase} == set(GatewayStatus)
    for old in Phase:
        for new in PHASE_TRANSITIONS[old]:
            assert new.status is old.status or new.status in TRANSITIONS[old.status]
    projected = {
        (old.status, new.status)
        for old in Phase
        for new in PHASE_TRANSITIONS[old]
        if new.status is not old.status
    }
    assert projected == {(s, t) for s, targets in TRANSITIONS.items() for t in targets}


# --- READY before our IDENTIFY (used to raise "internal error" from the session) ---------


def test_hello_after_an_early_ready_starts_the_heartbeat_and_identifies_nothing() -> None:
    h = Harness()
    h.session.connect()
    h.open()
    h.ready()
    h.hello()
    assert h.session.phase is Phase.READY
    assert h.sent_ops() == []  # no IDENTIFY, no RESUME: the session is up already
    h.ack_each_beat(120)  # heartbeats run; no "no HELLO" close
    assert h.session.phase is Phase.READY and h.sent_ops() and set(h.sent_ops()) == {1}


def test_ready_while_the_identify_waits_gives_the_slot_back() -> None:
    gate = IdentifyGate()
    h = _harness(gate)
    _live(h)
    h.hello()
    assert h.session.phase is Phase.IDENTIFY_HELD
    h.ready(guilds=["1"])
    assert h.session.phase is Phase.WAITING_FOR_GUILDS
    assert gate.pending(0, h.clock.now) == [1000.0]  # only the slot taken before
    h.run_for(30)
    assert 2 not in h.sent_ops()  # the held IDENTIFY never goes
    assert h.session.phase is Phase.READY
