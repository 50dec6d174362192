"""Faults the emulator injects into a live connection, and the steps that schedule them.

One parser (`parse_fault`) reads every source: a TOML scenario step, a `--fault`
flag (`key=value` pairs) and the admin endpoint's query string, so the three accept
the same names and say the same thing when one is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from birbctl.errors import ConfigError

#: Action name -> the parameters it takes (name -> default; None = required).
ACTIONS: dict[str, dict[str, Any]] = {
    "reconnect": {},
    "invalid_session": {"resumable": False},
    "close": {"code": 4000, "reason": ""},
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
    code: int = 4000
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


@dataclass(frozen=True, slots=True)
class FaultStep:
    """Fire `fault` once per session: `at` seconds after its READY, or once it has
    received `after_events` synthetic events."""

    fault: Fault
    at: float | None = None
    after_events: int | None = None


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
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if number < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return number


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
        if not (code == 1000 or 1001 <= code <= 1014 or 3000 <= code <= 4999):
            raise ConfigError(f"{where}: close code {code} cannot be sent (use 1000 or 3000-4999)")
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
    """A FaultStep: exactly one of `at` (seconds) or `after_events`, plus a fault."""
    rest = {k: v for k, v in spec.items() if k not in ("at", "after_events")}
    has_at, has_after = "at" in spec, "after_events" in spec
    if has_at == has_after:
        raise ConfigError(f"{where}: give exactly one of at = SECONDS or after_events = N")
    fault = parse_fault(rest, where=where)
    if has_at:
        return FaultStep(fault, at=_as_number("at", spec["at"], float))
    return FaultStep(fault, after_events=_as_number("after_events", spec["after_events"], int))


def parse_fault_flag(text: str) -> FaultStep:
    """`--fault "at=5 action=close code=4000"`: the TOML step's keys as key=value words."""
    spec: dict[str, Any] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ConfigError(f"--fault {text!r}: expected key=value words, got {word!r}")
        spec[key] = value
    if "action" not in spec and len(spec) == 0:
        raise ConfigError("--fault is empty")
    return parse_step(spec, where=f"--fault {text!r}")
