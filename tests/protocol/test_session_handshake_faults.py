"""Faults at every point of the handshake, not only once READY: the session recovers,
resumes or identifies as the rules say, on the right URL, no later than the waits the
rules impose (backoff, op 9's 1-5 s, the identify window), and never identifies sooner
than the identify limit allows. Fake clock, seeded RNG, no socket, no sleep.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import pytest
from gateway_harness import BASE_URL, RESUME_URL, Harness

from birbctl.protocol.events import (
    CloseConnection,
    DropConnection,
    OpenConnection,
    Reconnecting,
    SendPayload,
)
from birbctl.protocol.identify import IdentifyGate
from birbctl.protocol.opcodes import CloseAction, policy_for
from birbctl.protocol.status import GatewayStatus as S

#: Points of the handshake where a fault strikes.
POINTS = ["opening", "before_hello", "identify_waits", "after_identify", "after_resume"]
#: Faults, as the gateway (or the network) deals them.
FAULTS = [
    "refused",
    "drop",
    "close_1000",
    "close_4000",
    "close_4007",
    "close_4009",
    "op7",
    "op9_true",
    "op9_false",
    "hello_timeout",
]


@dataclass
class Gateway:
    """A well-behaved gateway that answers whatever the session does, and a record."""

    h: Harness
    sessions: int = 0
    identifies: list[float] = field(default_factory=list)
    resumes: list[float] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)

    def step(self) -> None:
        """Answer every pending action, and what those answers produce."""
        for _ in range(100):
            actions = self.h.drain()
            if not actions:
                return
            for action in actions:
                self._answer(action)
        raise AssertionError("actions never settle")

    def _answer(self, action: object) -> None:
        if True:
            if isinstance(action, OpenConnection):
                self.opened.append(action.url)
                self.h.open()
                self.h.hello()
            elif isinstance(action, SendPayload):
                op = action.payload["op"]
                if op == 1:
                    self.h.ack()
                elif op == 2:
                    self.identifies.append(self.h.clock.now)
                    self.sessions += 1
                    self.h.ready(session_id=f"sess-{self.sessions}", s=1)
                elif op == 6:
                    self.resumes.append(self.h.clock.now)
                    self.h.dispatch("RESUMED", {}, s=(self.h.session.sequence or 0) + 1)
            elif isinstance(action, CloseConnection):
                self.h.close(action.code)
            elif isinstance(action, DropConnection):
                self.h.close(None)

    def until_ready(self, limit: float = 300.0) -> float:
        """Serve until the session is READY; returns the clock then."""
        end = self.h.clock.now + limit
        for _ in range(10_000):
            self.step()
            if self.h.session.status is S.READY:
                return self.h.clock.now
            deadline = self.h.session.next_deadline()
            assert deadline is not None and deadline <= end, self.h.session
            self.h.clock.now = max(self.h.clock.now, deadline)
            self.h.session.tick()
        raise AssertionError("never READY")


def _harness(seed: int, gate: IdentifyGate) -> Harness:
    return Harness(shard=(0, 1), identify_gate=gate, rng=random.Random(seed))


def _reach(point: str, h: Harness, gate: IdentifyGate) -> None:
    """Drive the session to `point` with no fault yet (a READY session exists for
    after_resume; a slot is taken by another shard for identify_waits)."""
    s = h.session
    if point == "after_resume":
        h.connect_ready()
        h.session.sequence = 5
        s.reconnect()  # close 4000 to resume
        [close] = h.all(CloseConnection)
        h.close(close.code)
        h.forget()
        h.open()
        h.hello()
        assert h.sent_ops() == [6]
        return
    if point == "identify_waits":
        gate.reserve(0, h.clock.now)  # another shard of the bucket identified just now
    s.connect()
    if point == "opening":
        return
    h.open()
    if point == "before_hello":
        return
    h.hello()
    if point == "identify_waits":
        assert 2 not in h.sent_ops() and s.status is S.IDENTIFYING
    elif point == "after_identify":
        assert h.sent_ops() == [2]


def _strike(fault: str, point: str, h: Harness) -> None:
    s = h.session
    h.drain()
    if point == "opening":
        if fault == "refused":
            s.connection_failed("connection refused")
            return
        s.connection_opened()  # other faults need a connection: it opened after all
    if fault in ("refused", "drop"):
        h.close(None)
    elif fault.startswith("close_"):
        h.close(int(fault.removeprefix("close_")))
    elif fault == "op7":
        h.op(7)
    elif fault == "op9_true":
        h.op(9, True)
    elif fault == "op9_false":
        h.op(9, False)
    elif fault == "hello_timeout":
        if point in ("before_hello", "opening"):
            deadline = s.next_deadline()
            assert deadline == h.clock.now + s.hello_timeout
            h.clock.now = deadline
            s.tick()  # the gateway's answer to the close comes from Gateway.step()
        else:
            h.close(None)  # HELLO already came: the nearest thing is a silent drop


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("seed", [1, 2])
def test_every_fault_at_every_handshake_point_recovers_in_time(
    point: str, fault: str, seed: int
) -> None:
    gate = IdentifyGate(max_concurrency=1)
    h = _harness(seed, gate)
    gw = Gateway(h)
    _reach(point, h, gate)
    had_session = h.session.session_id is not None
    struck = h.clock.now
    # IDENTIFYs the bucket has seen (sent, not merely reserved) within the last window.
    sent_before = [t for t in gate.pending(0, struck) if t <= struck]
    _strike(fault, point, h)
    gw.step()
    recovered = gw.until_ready()

    waits = [a.delay for a in h.all(Reconnecting)]
    # Each announced wait is within the backoff ceiling, or op 9's 1-5 s.
    for wait in waits:
        assert wait <= max(h.session.backoff.ceiling(len(waits)), 5.0), waits
    timeout = fault == "hello_timeout" and point in ("opening", "before_hello")
    required = sum(waits) + (h.session.hello_timeout if timeout else 0.0)
    every_identify = sorted([*sent_before, *gw.identifies])
    for earlier, later in itertools.pairwise(every_identify):
        assert later - earlier >= gate.window - 1e-9, every_identify
    if gw.identifies and sent_before:
        # The new IDENTIFY also waits out the window of the bucket's previous one.
        required = max(required, max(sent_before) + gate.window - struck)
    assert recovered - struck <= required + 1e-6, (recovered - struck, required, waits)

    # Resume or identify, as the policy says, on the matching URL.
    resumes = fault in (
        "refused",
        "drop",
        "close_1000",
        "close_4000",
        "op7",
        "op9_true",
        "hello_timeout",
    )
    if fault.startswith("close_"):
        resumes = policy_for(int(fault.removeprefix("close_"))).action is CloseAction.RESUME
    if had_session and resumes:
        assert gw.resumes and not gw.identifies
        assert gw.opened[0].startswith(RESUME_URL)
    else:
        assert gw.identifies
        if had_session:
            assert gw.opened[-1].startswith(BASE_URL)


@pytest.mark.parametrize("seed", range(20))
def test_a_burst_of_handshake_faults_never_identifies_early(seed: int) -> None:
    """Random faults at random handshake points in a row: IDENTIFYs stay 5 s apart, the
    gate holds no stale slot, and the session ends READY."""
    rng = random.Random(seed)
    gate = IdentifyGate(max_concurrency=1)
    h = _harness(seed, gate)
    gw = Gateway(h)
    h.session.connect()
    for _ in range(12):
        # Let the session get somewhere, then hit it.
        for _ in range(rng.randrange(4)):
            gw.step()
            deadline = h.session.next_deadline()
            if deadline is not None and rng.random() < 0.5:
                h.clock.now = max(h.clock.now, deadline)
                h.session.tick()
        s = h.session
        if s.is_connecting and rng.random() < 0.5:
            h.drain()  # the driver tried the OpenConnection, and it failed
            s.connection_failed("refused")
        elif s.is_connected:
            fault = rng.choice(["drop", "close_4000", "close_4009", "op7", "op9_true", "op9_false"])
            _strike(fault, "burst", h)
    gw.until_ready(limit=600.0)
    for earlier, later in itertools.pairwise(gw.identifies):
        assert later - earlier >= gate.window - 1e-9
    assert gate.pending(0, h.clock.now + gate.window) == []
