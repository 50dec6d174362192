"""A driver stand-in for GatewaySession: a fake clock, a seeded RNG, no sockets, no sleep.

A plain module (not conftest) so the test files can import its names and types.
"""

from __future__ import annotations

import random
from typing import Any, TypeVar

from birbctl.protocol.events import Action, SendPayload, StatusChanged
from birbctl.protocol.session import GatewaySession
from birbctl.protocol.status import GatewayStatus

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"
SEED = 1234
INTERVAL_MS = 41250
BASE_URL = "wss://gateway.discord.gg/"
RESUME_URL = "wss://gateway-us-east1-b.discord.gg"

A = TypeVar("A")


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """Owns one session and everything it emitted; helpers speak the gateway's side."""

    def __init__(self, **kwargs: Any) -> None:
        self.clock = FakeClock()
        options: dict[str, Any] = {
            "intents": 513,
            "gateway_url": BASE_URL,
            "clock": self.clock,
            "rng": random.Random(SEED),
        }
        options.update(kwargs)
        self.session = GatewaySession(TOKEN, **options)
        self.log: list[tuple[float, Action]] = []

    # --- collecting -----------------------------------------------------------------

    def drain(self) -> list[Action]:
        actions = self.session.actions()
        self.log.extend((self.clock.now, a) for a in actions)
        return actions

    def all(self, kind: type[A]) -> list[A]:
        self.drain()
        return [a for _, a in self.log if isinstance(a, kind)]

    def sent(self) -> list[dict[str, Any]]:
        return [a.payload for a in self.all(SendPayload)]

    def sent_ops(self) -> list[int]:
        return [p["op"] for p in self.sent()]

    def statuses(self) -> list[GatewayStatus]:
        return [a.new for a in self.all(StatusChanged)]

    def forget(self) -> None:
        """Start the record afresh (the session keeps its state)."""
        self.drain()
        self.log.clear()

    # --- the gateway's side ---------------------------------------------------------

    def open(self) -> None:
        self.session.connection_opened()

    def hello(self, interval_ms: int = INTERVAL_MS) -> None:
        self.session.receive_payload({"op": 10, "d": {"heartbeat_interval": interval_ms}})

    def dispatch(self, t: str, d: Any = None, s: int | None = None) -> None:
        self.session.receive_payload({"op": 0, "t": t, "s": s, "d": d})

    def ready(
        self,
        s: int = 1,
        guilds: list[str] | None = None,
        session_id: str = "sess-1",
        resume_url: str = RESUME_URL,
    ) -> None:
        self.dispatch(
            "READY",
            {
                "v": 10,
                "session_id": session_id,
                "resume_gateway_url": resume_url,
                "guilds": [{"id": g, "unavailable": True} for g in (guilds or [])],
                "user": {"id": "1", "username": "bot"},
            },
            s,
        )

    def ack(self) -> None:
        self.session.receive_payload({"op": 11})

    def op(self, op: int, d: Any = None) -> None:
        self.session.receive_payload({"op": op, "d": d})

    def close(self, code: int | None, reason: str = "") -> None:
        self.session.connection_closed(code, reason)

    def connect_ready(self, guilds: list[str] | None = None) -> None:
        """connect -> open -> HELLO -> IDENTIFY -> READY, with the record cleared after."""
        self.session.connect()
        self.open()
        self.hello()
        self.ready(guilds=guilds)
        self.forget()

    # --- time -----------------------------------------------------------------------

    def run_until(self, when: float) -> None:
        """Be the driver's timer: tick at each deadline up to `when`, then stop there."""
        for _ in range(100_000):
            deadline = self.session.next_deadline()
            if deadline is None or deadline > when:
                break
            self.clock.now = max(self.clock.now, deadline)
            self.session.tick()
            self.drain()
        else:  # pragma: no cover - a deadline that never moves is a bug
            raise AssertionError("next_deadline() did not advance")
        self.clock.now = max(self.clock.now, when)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.clock.now + seconds)

    def ack_each_beat(self, seconds: float) -> None:
        """Run for `seconds`, answering every heartbeat with an ACK at once."""
        end = self.clock.now + seconds
        beats = len([a for a in self.all(SendPayload) if a.heartbeat])
        while True:
            deadline = self.session.next_deadline()
            if deadline is None or deadline > end:
                break
            self.run_until(deadline)
            now_beats = len([a for a in self.all(SendPayload) if a.heartbeat])
            for _ in range(now_beats - beats):
                self.ack()
            beats = now_beats
        self.clock.now = end
