"""Faults the emulator injects into a live connection, and the steps that schedule them.

One parser (`parse_fault`) reads every source: a TOML scenario step, a `--fault`
flag (`key=value` pairs) and the admin endpoint's query string (`parse_admin_fault`,
for `birbctl serve`'s and `birbctl proxy`'s alike), so they accept the same names and
say the same thing when one is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from birbctl.errors import ConfigError
from birbctl.protocol.opcodes import SERVER_CLOSE_CODES_TEXT, CloseCode, server_may_send

#: A close fault with no `code`: 4000, the gateway's "unknown error", which a client resumes.
DEFAULT_CLOSE_CODE = int(CloseCode.UNKNOWN_ERROR)

#: Action name -> the parameters it takes (name -> default; None = required).
ACTIONS: dict[str, dict[str, Any]] = {
    "reconnect": {},
    "invalid_session": {"resumable": False},
    "close": {"code": DEFAULT_CLOSE_CODE, "reason": ""},
    "drop": {},
    "zombie": {},
    "ack_delay": {"ms": None},
    "request_heartbeat": {},
    "corrupt": {},
    "stall": {"seconds": None},
}


@dataclass(frozen=True, slots=True)
class Fault:
    action: str
    resumable: bool = False
    code: int = DEFAULT_CLOSE_CODE
    reason: str = ""
    ms: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        extra = {
            "invalid_session": f" resumable={str(self.resumable).lower()}",
            "close": f" code={self.code}" + (f" reason={self.reason!r}" if self.reason else ""),
            "ack_delay": f" ms={self.ms}",
            "stall": f" seconds={self.seconds:g}",
        }.get(self.action, "")
        return self.action + extra


#: Handshake points a step can fire at (`on = ...`), in the order a connection meets them.
TRIGGERS = ("connect", "hello", "identify", "resume")
_TRIGGER_KEYS = ("at", "after_events", "on")
_HANDSHAKE_KEYS = ("delay", "times", "probability")
_ONE_TRIGGER = "give exactly one of at = SECONDS, after_events = N or on = " + "|".join(TRIGGERS)


@dataclass(frozen=True, slots=True)
class FaultStep:
    """When to fire `fault`. Exactly one trigger:

    - `at` seconds after a session's READY, or once it has received `after_events`
      synthetic events: once per session (a resumed session keeps its place);
    - `on` a handshake point of any connection: "connect" (before HELLO is sent), "hello"
      (after HELLO, `delay` seconds later, if no IDENTIFY/RESUME came meanwhile),
      "identify" or "resume" (when one arrives, before READY or the replay). There is no
      session yet, so these count server-wide: each time the point is reached the step
      fires with `probability` (the emulator's seeded RNG), at most `times` times in all
      (None = no limit).
    """

    fault: Fault
    at: float | None = None
    after_events: int | None = None
    on: str | None = None
    delay: float = 0.0
    times: int | None = 1
    probability: float = 1.0

    @property
    def trigger(self) -> str:
        """ "at", "after_events" or the handshake point: for records and logs."""
        if self.on is not None:
            return self.on
        return "at" if self.at is not None else "after_events"

    def describe(self) -> str:
        if self.on is None:
            when = f"at={self.at:g}" if self.at is not None else f"after_events={self.after_events}"
            return f"{when} {self.fault.describe()}"
        words = [f"on={self.on}"]
        if self.delay:
            words.append(f"delay={self.delay:g}")
        words.append(f"times={'inf' if self.times is None else self.times}")
        if self.probability != 1.0:
            words.append(f"probability={self.probability:g}")
        return " ".join(words) + " " + self.fault.describe()


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _as_number(name: str, value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a number, got {value!r} (finite)")
    if number < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return number


def _as_times(where: str, value: Any) -> int | None:
    """A whole number of at least 1, or inf (TOML's `inf`, or the word) for no limit."""
    bad = ConfigError(f"{where}: times must be a whole number of at least 1, or inf; got {value!r}")
    number: int
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("inf", "infinity"):
            return None
        try:
            number = int(word)
        except ValueError:
            raise bad from None
    elif isinstance(value, float):
        if value == float("inf"):
            return None
        if not value.is_integer():
            raise bad
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        raise bad
    if number < 1:
        raise bad
    return number


def _as_probability(where: str, value: Any) -> float:
    try:
        number = _as_number("probability", value, float)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{where}: probability must be between 0 and 1, got {value!r}")
    return float(number)


def parse_fault(spec: Mapping[str, Any], *, where: str = "fault") -> Fault:
    """A Fault from `{"action": ..., params...}`; unknown keys are errors, not ignored."""
    action = spec.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise ConfigError(f"{where}: action must be one of {', '.join(ACTIONS)}; got {action!r}")
    params = ACTIONS[action]
    unknown = set(spec) - {"action", *params}
    if unknown:
        raise ConfigError(f"{where}: {action} takes no {', '.join(sorted(unknown))}")
    missing = [k for k, v in params.items() if v is None and k not in spec]
    if missing:
        raise ConfigError(f"{where}: {action} needs {', '.join(missing)}")
    values: dict[str, Any] = {}
    if "resumable" in spec:
        values["resumable"] = _as_bool("resumable", spec["resumable"])
    if "code" in spec:
        code = _as_number("code", spec["code"], int)
        if not server_may_send(code):
            raise ConfigError(
                f"{where}: close code {code} cannot be sent (use {SERVER_CLOSE_CODES_TEXT})"
            )
        values["code"] = code
    if "reason" in spec:
        reason = str(spec["reason"])
        if len(reason.encode()) > 123:
            raise ConfigError(f"{where}: close reason is over 123 bytes")
        values["reason"] = reason
    if "ms" in spec:
        values["ms"] = _as_number("ms", spec["ms"], int)
    if "seconds" in spec:
        values["seconds"] = _as_number("seconds", spec["seconds"], float)
    return Fault(action=action, **values)


def parse_step(spec: Mapping[str, Any], *, where: str = "step") -> FaultStep:
    """A FaultStep: exactly one trigger (`at`, `after_events` or `on`), plus a fault.
    `delay` (on = "hello" only), `times` and `probability` go with `on`."""
    given = [k for k in _TRIGGER_KEYS if k in spec]
    if len(given) != 1:
        got = f" (got {' and '.join(given)})" if given else ""
        raise ConfigError(f"{where}: {_ONE_TRIGGER}{got}")
    rest = {k: v for k, v in spec.items() if k not in (*_TRIGGER_KEYS, *_HANDSHAKE_KEYS)}
    extra = [k for k in _HANDSHAKE_KEYS if k in spec]
    if "on" not in spec and extra:
        raise ConfigError(
            f"{where}: {' and '.join(extra)} only go with on = {'|'.join(TRIGGERS)}; "
            "an at/after_events step fires once per session"
        )
    if "on" in spec:
        on = spec["on"]
        if on not in TRIGGERS:
            raise ConfigError(f"{where}: on must be one of {', '.join(TRIGGERS)}; got {on!r}")
        if "delay" in spec and on != "hello":
            raise ConfigError(
                f"{where}: delay goes with on = hello only (the wait for IDENTIFY/RESUME); "
                f"on = {on} fires at once"
            )
    fault = parse_fault(rest, where=where)
    if "at" in spec:
        return FaultStep(fault, at=_as_number("at", spec["at"], float))
    if "after_events" in spec:
        return FaultStep(fault, after_events=_as_number("after_events", spec["after_events"], int))
    return FaultStep(
        fault,
        on=str(spec["on"]),
        delay=float(_as_number("delay", spec.get("delay", 0.0), float)),
        times=_as_times(where, spec["times"]) if "times" in spec else 1,
        probability=_as_probability(where, spec.get("probability", 1.0)),
    )


def parse_fault_flag(text: str) -> FaultStep:
    """`--fault "at=5 action=close code=4000"`, `--fault "on=identify action=drop times=3"`:
    the TOML step's keys as key=value words."""
    spec: dict[str, Any] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ConfigError(f"--fault {text!r}: expected key=value words, got {word!r}")
        spec[key] = value
    if "action" not in spec and len(spec) == 0:
        raise ConfigError("--fault is empty")
    return parse_step(spec, where=f"--fault {text!r}")


@dataclass(frozen=True, slots=True)
class AdminFault:
    """One POST /_birbctl/faults, read: a handshake step to arm for the connections that
    reach its point from now on (`step`), or a fault to strike now (`fault`) at the open
    connections `targets` names (all of them when it names none)."""

    step: FaultStep | None
    fault: Fault
    targets: dict[str, str]


def parse_admin_fault(
    query: Mapping[str, str], body: bytes, *, target_keys: tuple[str, ...]
) -> AdminFault:
    """The query's words and a JSON object body's (which win), with the keys that choose
    connections (`target_keys`, e.g. session, connection) taken apart. Raises ConfigError
    for anything the endpoint answers with 400."""
    words = {**query, **admin_body_words(body)}
    targets = {key: words.pop(key) for key in target_keys if key in words}
    if "on" in words:
        if targets:
            listed = ", ".join(target_keys[:-1]) + " and " + target_keys[-1]
            raise ConfigError(
                f"fault: {listed} do not go with on=; it strikes the next connections to "
                "reach that point"
            )
        step = parse_step(words, where="fault")
        return AdminFault(step, step.fault, {})
    if "at" in words or "after_events" in words:
        raise ConfigError(
            "fault: at and after_events are session timelines (--fault, --scenario); "
            "here a fault strikes now, or on=connect|hello|identify|resume"
        )
    return AdminFault(None, parse_fault(words, where="fault"), targets)


def admin_body_words(body: bytes) -> dict[str, str]:
    """The admin endpoint's optional JSON object body, as query words: true/false for
    booleans, numbers as written. Raises ConfigError for anything else."""
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ConfigError("fault: the body is not JSON; send an object or use the query") from None
    if not isinstance(data, dict):
        raise ConfigError("fault: the body must be a JSON object of parameters")
    words: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, bool):
            words[key] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            words[key] = str(value)
        else:
            raise ConfigError(f"fault: {key} must be a string, number or boolean")
    return words
