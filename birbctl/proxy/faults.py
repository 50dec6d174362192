"""When the proxy strikes a bot connection: `birbctl serve`'s fault steps, read off the
proxied traffic instead of the emulator's own sessions. Sans-I/O: the server reports
what passed (proxy/link.py) and strikes with the faults these return.

The vocabulary is the emulator's (emulator/faults.py parses it, for `--fault`,
`--scenario` and the admin endpoint alike); what a step waits for is the same:
- `at = S`: S seconds after the gateway session's READY passed through the proxy;
  `after_events = N`: once N dispatches of the session have passed (READY and
  RESUMED not counted). Once per gateway session: a bot that resumes keeps its place, as it does
  in the emulator.
- `on = connect` (a bot connection is open, before upstream's HELLO reaches it),
  `on = hello` (HELLO went to the bot; `delay` seconds later if no IDENTIFY or RESUME
  came meanwhile), `on = identify` and `on = resume` (the bot's op 2 or op 6 arrived;
  it is not passed upstream when the fault answers it). Counted across every bot
  connection, with `times` and `probability` (a seeded RNG), as in the emulator.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from birbctl.emulator.chaos import HandshakeSteps
from birbctl.emulator.faults import Fault, FaultStep
from birbctl.proxy.routes import SESSIONS_REMEMBERED

#: Faults that answer the bot's IDENTIFY or RESUME, which then does not go upstream.
ANSWERING = frozenset({"invalid_session", "close", "drop"})


@dataclass(slots=True)
class _Place:
    """Where one gateway session stands in the timeline."""

    ready_at: float
    events: int = 0
    fired: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Strike:
    """A fault to apply now, and what set it off (for the proxy's log line)."""

    fault: Fault
    trigger: str  # "at", "after_events", a handshake point, or "admin"
    source: str  # "step" or "admin"


class FaultPlan:
    """The proxy's steps, for every bot connection: timeline steps per gateway session,
    handshake steps across connections (the admin endpoint can arm more)."""

    def __init__(self, steps: Iterable[FaultStep] = (), *, seed: int | None = None) -> None:
        steps = tuple(steps)
        self.timeline = tuple(s for s in steps if s.on is None)
        self.handshake = HandshakeSteps(
            tuple(s for s in steps if s.on is not None), random.Random(seed)
        )
        # The bytes of `corrupt` frames, as the emulator draws them: seeded, and from an
        # RNG of their own, so a corrupt frame does not shift the steps' draws.
        self._junk = random.Random(None if seed is None else f"corrupt/{seed}")
        self._places: OrderedDict[str, _Place] = OrderedDict()

    def junk(self, size: int) -> bytes:
        """`size` bytes for a `corrupt` frame: the same ones for the same seed."""
        return self._junk.randbytes(size)

    @property
    def has_steps(self) -> bool:
        """Whether any step is set or armed: without one, connections hear nothing."""
        return bool(self.timeline or self.handshake.armed)

    def connection(self, clock: Callable[[], float]) -> ConnectionFaults:
        return ConnectionFaults(self, clock)

    def _place(self, session_id: str, now: float, *, ready: bool) -> _Place | None:
        place = self._places.get(session_id)
        if place is None and ready:
            place = self._places[session_id] = _Place(now)
            while len(self._places) > SESSIONS_REMEMBERED:
                self._places.popitem(last=False)
        if place is not None:
            self._places.move_to_end(session_id)
        return place

    def _due(self, place: _Place, now: float) -> list[Strike]:
        due = []
        for index, step in enumerate(self.timeline):
            if index in place.fired:
                continue
            if (step.at is not None and now >= place.ready_at + step.at) or (
                step.after_events is not None and place.events >= step.after_events
            ):
                place.fired.add(index)
                due.append(Strike(step.fault, step.trigger, "step"))
        return due

    def _next_at(self, place: _Place) -> float | None:
        times = [
            place.ready_at + step.at
            for index, step in enumerate(self.timeline)
            if step.at is not None and index not in place.fired
        ]
        return min(times, default=None)

    def _handshake(self, point: str) -> list[Strike]:
        return [Strike(a.step.fault, point, "step") for a in self.handshake.take(point)]


class ConnectionFaults:
    """One bot connection's view of the plan: call `opened`, `upstream` and `bot` as the
    traffic passes, and `due` when `next_deadline` comes."""

    def __init__(self, plan: FaultPlan, clock: Callable[[], float]) -> None:
        self._plan = plan
        self._clock = clock
        self._session: str | None = None
        self._hello_at: float | None = None
        self._answered_hello = False  # an IDENTIFY or RESUME came
        self._hello_checked: set[int] = set()

    def opened(self) -> list[Strike]:
        """The bot's connection is open; upstream's HELLO has not reached it."""
        return self._plan._handshake("connect")

    def upstream(self, op: int | None, t: str | None, session_id: str | None) -> list[Strike]:
        """A message upstream sent reached the bot (op, its `t`; the relay's session)."""
        now = self._clock()
        if op == 10 and self._hello_at is None:
            self._hello_at = now
            return self._plan._handshake("hello")
        if op != 0 or session_id is None:
            return []
        place = self._plan._place(session_id, now, ready=t == "READY")
        if place is None:
            return []
        self._session = session_id
        if t != "READY" and t != "RESUMED":
            place.events += 1
        return self._plan._due(place, now)

    def bot(self, op: int | None) -> list[Strike]:
        """The bot sent a message; IDENTIFY and RESUME are handshake points."""
        if op not in (2, 6):
            return []
        self._answered_hello = True
        return self._plan._handshake("identify" if op == 2 else "resume")

    def due(self) -> list[Strike]:
        """`at` steps and delayed `on = hello` steps whose time has come."""
        now = self._clock()
        strikes: list[Strike] = []
        hello_at = self._hello_at
        if hello_at is not None and not self._answered_hello:
            handshake = self._plan.handshake
            for armed in handshake.hello_waited(hello_at, self._hello_checked, now):
                strikes.append(Strike(armed.step.fault, "hello", "step"))
        if self._session is not None:
            place = self._plan._place(self._session, now, ready=False)
            if place is not None:
                strikes += self._plan._due(place, now)
        return strikes

    def next_deadline(self) -> float | None:
        """When `due` may have something (clock time); None: only traffic can tell."""
        times: list[float] = []
        hello_at = self._hello_at
        if hello_at is not None and not self._answered_hello:
            times += [
                hello_at + a.step.delay
                for a in self._plan.handshake.delayed_hello()
                if a.id not in self._hello_checked
            ]
        if self._session is not None:
            place = self._plan._places.get(self._session)
            if place is not None and (at := self._plan._next_at(place)) is not None:
                times.append(at)
        return min(times, default=None)
