"""Faults at handshake points and by chance, and what a soak test reads afterwards.

A connection meets four handshake points (connect, hello, identify, resume); steps with
`on = ...` fire there, counted server-wide (`HandshakeSteps`). The chaos mode (`Chaos`)
draws faults at random times (exponential gaps around a mean, from its own seeded RNG)
and hands each to a random handshake point or live session. Every injected fault, from
any source, is kept as an `InjectedFault`, and every IDENTIFY's arrival per shard bucket
as an `IdentifyRecord`, so a test can count what happened instead of parsing logs.

No I/O and no clock of its own: the gateway passes `now` (the server's loop clock).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from birbctl.emulator.faults import ACTIONS, TRIGGERS, Fault, FaultStep, parse_fault
from birbctl.errors import ConfigError

#: Where chaos can strike: the handshake points, and "live" (a random READY session, now).
CHAOS_TRIGGERS = (*TRIGGERS, "live")
#: Discord's identify rate limit: one IDENTIFY per 5 s per bucket (shard_id % max_concurrency).
IDENTIFY_INTERVAL_S = 5.0
#: Records kept (the oldest are dropped past this; the counters keep counting).
RECORDS_KEPT = 100_000
#: Chaos arrivals handled per `due()` call; a loop that fell further behind skips ahead.
_MAX_ARRIVALS = 100
#: The one parameter `--chaos "faults=stall:3,close:4001"` may set after a colon.
_MAIN_PARAM = {
    "invalid_session": "resumable",
    "close": "code",
    "ack_delay": "ms",
    "stall": "seconds",
}


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """One fault that struck a connection."""

    #: The server's loop clock (`EmulatorServer.clock()`; asyncio's is time.monotonic()).
    time: float
    connection: int
    session: str | None
    #: [shard_id, num_shards]: the session's, or the IDENTIFY's / RESUMEd session's.
    shard: tuple[int, int] | None
    #: connect, hello, identify, resume, at, after_events, live or admin.
    trigger: str
    #: step, chaos or admin.
    source: str
    fault: Fault
    #: The client's port of the connection (which client it was, before any shard is known).
    peer_port: int | None = None


@dataclass(frozen=True, slots=True)
class IdentifyRecord:
    time: float
    connection: int
    shard: tuple[int, int]
    bucket: int
    #: Seconds since the previous IDENTIFY of the bucket (None: the first).
    since_previous: float | None

    @property
    def too_soon(self) -> bool:
        return self.since_previous is not None and self.since_previous < IDENTIFY_INTERVAL_S


class IdentifyTracker:
    """When each IDENTIFY arrived, per bucket `shard_id % max_concurrency`, and the ones
    that came under 5 s after the previous one of their bucket (`violations`). Discord
    would make such a client wait or fail; the emulator only records and logs it."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.arrivals: deque[IdentifyRecord] = deque(maxlen=RECORDS_KEPT)
        self.violations: deque[IdentifyRecord] = deque(maxlen=RECORDS_KEPT)
        self.violation_count = 0
        self._last: dict[int, float] = {}

    def record(self, connection: int, shard: tuple[int, int], now: float) -> IdentifyRecord:
        bucket = shard[0] % self.max_concurrency
        last = self._last.get(bucket)
        self._last[bucket] = now
        record = IdentifyRecord(
            now, connection, shard, bucket, None if last is None else now - last
        )
        self.arrivals.append(record)
        if record.too_soon:
            self.violations.append(record)
            self.violation_count += 1
        return record


@dataclass(slots=True)
class ArmedStep:
    """A handshake step and how often it has fired, server-wide."""

    step: FaultStep
    id: int
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.step.times is not None and self.fired >= self.step.times

    def roll(self, rng: random.Random) -> bool:
        """Fire now? Counts the firing. `probability` draws from `rng` only below 1."""
        if self.exhausted:
            return False
        if self.step.probability < 1.0 and rng.random() >= self.step.probability:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "step": self.step.describe(), "fired": self.fired}


class HandshakeSteps:
    """The server's `on = ...` steps (from the config, and added by the admin endpoint)."""

    def __init__(self, steps: tuple[FaultStep, ...], rng: random.Random) -> None:
        self.rng = rng
        self.armed: list[ArmedStep] = []
        for step in steps:
            self.add(step)

    def add(self, step: FaultStep) -> ArmedStep:
        if step.on is None:
            raise ValueError("not a handshake step")
        armed = ArmedStep(step, len(self.armed) + 1)
        self.armed.append(armed)
        return armed

    def take(self, trigger: str) -> list[ArmedStep]:
        """The steps that fire at this point now (not the delayed hello ones)."""
        return [
            a for a in self.armed if a.step.on == trigger and not a.step.delay and a.roll(self.rng)
        ]

    def delayed_hello(self) -> list[ArmedStep]:
        """`on = hello` steps with a delay that may still fire."""
        return [a for a in self.armed if a.step.on == "hello" and a.step.delay and not a.exhausted]

    def hello_waited(self, hello_at: float, checked: set[int], now: float) -> Iterator[ArmedStep]:
        """The delayed `on = hello` steps that fire now, for a connection that got HELLO
        at `hello_at` and has sent no IDENTIFY or RESUME since: each step is decided
        once per connection (`checked` holds the ids decided), lazily, so a caller that
        stops (its connection closed) leaves the rest undecided."""
        for armed in self.delayed_hello():
            if armed.id in checked or now < hello_at + armed.step.delay:
                continue
            checked.add(armed.id)
            if armed.roll(self.rng):
                yield armed


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """Random faults across all connections: on average one every `mean_interval`
    seconds (exponential gaps), each a random pick of `faults` and `triggers`. A fault
    drawn for a handshake point waits `window` seconds (default: `mean_interval`) for a
    connection to reach it, then lapses: handshake faults follow the handshakes that
    happen, instead of piling up for the next one while every session is READY."""

    mean_interval: float
    faults: tuple[Fault, ...]
    triggers: tuple[str, ...] = CHAOS_TRIGGERS
    #: None: a random seed (the run is then not repeatable).
    seed: int | None = None
    window: float | None = None

    def __post_init__(self) -> None:
        if not self.mean_interval > 0:
            raise ConfigError(f"chaos: mean interval must be above 0, got {self.mean_interval!r}")
        if self.window is not None and not self.window > 0:
            raise ConfigError(f"chaos: window must be above 0, got {self.window!r}")
        if not self.faults:
            raise ConfigError("chaos: give at least one fault")
        if not self.triggers:
            raise ConfigError("chaos: give at least one trigger")
        unknown = [t for t in self.triggers if t not in CHAOS_TRIGGERS]
        if unknown:
            raise ConfigError(
                f"chaos: triggers must be among {', '.join(CHAOS_TRIGGERS)}; got "
                f"{', '.join(map(repr, unknown))}"
            )

    def describe(self) -> str:
        faults = ",".join(map(_fault_word, self.faults))
        words = [f"mean={self.mean_interval:g}"]
        if self.window is not None:
            words.append(f"window={self.window:g}")
        words += [f"faults={faults}", f"triggers={','.join(self.triggers)}"]
        if self.seed is not None:
            words.append(f"seed={self.seed}")
        return " ".join(words)


@dataclass(slots=True)
class Chaos:
    """The chaos mode's draws. A handshake point has at most one fault waiting for it,
    until its window ends. A draw for a point that already has one, a fault whose window
    ended unused, and a "live" draw with no READY session are counted in `skipped`."""

    config: ChaosConfig
    rng: random.Random = field(init=False)
    next_at: float | None = None
    #: trigger -> (fault, when it lapses).
    pending: dict[str, tuple[Fault, float]] = field(default_factory=dict)
    drawn: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)

    def _gap(self) -> float:
        return self.rng.expovariate(1.0 / self.config.mean_interval)

    def start(self, now: float) -> None:
        self.next_at = now + self._gap()

    def due(self, now: float) -> list[tuple[str, Fault]]:
        """The draws whose time has come: (trigger, fault)."""
        if self.next_at is None:
            self.start(now)
        assert self.next_at is not None
        out: list[tuple[str, Fault]] = []
        while self.next_at <= now and len(out) < _MAX_ARRIVALS:
            out.append((self.rng.choice(self.config.triggers), self.rng.choice(self.config.faults)))
            self.next_at += self._gap()
        self.drawn += len(out)
        if self.next_at <= now:  # fell far behind (a blocked loop): do not catch up
            self.next_at = now + self._gap()
        return out

    def arm(self, trigger: str, fault: Fault, now: float) -> None:
        waiting = self.pending.get(trigger)
        if waiting is not None and now < waiting[1]:
            self.skipped += 1
            return
        if waiting is not None:
            self.skipped += 1  # lapsed unused
        window = self.config.window or self.config.mean_interval
        self.pending[trigger] = (fault, now + window)

    def take(self, trigger: str, now: float) -> Fault | None:
        waiting = self.pending.pop(trigger, None)
        if waiting is None:
            return None
        if now >= waiting[1]:
            self.skipped += 1
            return None
        return waiting[0]


def _fault_word(fault: Fault) -> str:
    """A fault as `--chaos` spells it: `close:4001`, `stall:3`, `drop`."""
    param = _MAIN_PARAM.get(fault.action)
    if param is None:
        return fault.action
    value = getattr(fault, param)
    if isinstance(value, bool):
        return f"{fault.action}:{str(value).lower()}"
    return f"{fault.action}:{value:g}" if isinstance(value, float) else f"{fault.action}:{value}"


def parse_chaos_flag(text: str, *, seed: int | None = None) -> ChaosConfig:
    """`--chaos "mean=5 faults=drop,close:4000,stall:3 triggers=connect,identify seed=1"`.

    `mean` is required; `window` defaults to `mean`; `faults` to drop, close (4000) and
    reconnect; `triggers` to all of connect, hello, identify, resume and live; `seed` to
    `--seed`. A fault is an
    action, with `:value` for its one parameter (close's code, stall's seconds, ack_delay's
    ms, invalid_session's resumable).
    """
    where = f"--chaos {text!r}"
    spec: dict[str, str] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where}: expected key=value words, got {word!r}")
        if key not in ("mean", "window", "faults", "triggers", "seed"):
            raise ConfigError(
                f"{where}: unknown key {key!r} (mean, window, faults, triggers, seed)"
            )
        spec[key] = value
    if "mean" not in spec:
        raise ConfigError(f"{where}: needs mean=SECONDS (the average gap between faults)")
    numbers: dict[str, float] = {}
    for key in ("mean", "window"):
        if key in spec:
            try:
                numbers[key] = float(spec[key])
            except ValueError:
                raise ConfigError(
                    f"{where}: {key} must be a number of seconds, got {spec[key]!r}"
                ) from None
    faults: list[Fault] = []
    for item in spec.get("faults", "drop,close,reconnect").split(","):
        action, colon, value = item.partition(":")
        fault_spec: dict[str, Any] = {"action": action}
        if colon:
            param = _MAIN_PARAM.get(action)
            if param is None:
                takes = "" if action not in ACTIONS else f" ({action} takes no parameter)"
                raise ConfigError(f"{where}: {item!r}: nothing goes after the colon{takes}")
            fault_spec[param] = value
        faults.append(parse_fault(fault_spec, where=where))
    triggers = tuple(t for t in spec.get("triggers", ",".join(CHAOS_TRIGGERS)).split(",") if t)
    if "seed" in spec:
        try:
            seed = int(spec["seed"])
        except ValueError:
            raise ConfigError(f"{where}: seed must be an integer, got {spec['seed']!r}") from None
    try:
        return ChaosConfig(numbers["mean"], tuple(faults), triggers, seed, numbers.get("window"))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {str(exc).removeprefix('chaos: ')}") from None
