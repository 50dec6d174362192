"""Scenario files: a TOML timeline of faults every session goes through.

    description = "what this scenario shows"   # optional
    [[step]]
    at = 10                  # seconds after the session's READY
    action = "reconnect"
    [[step]]
    after_events = 50        # or: once the session has had 50 synthetic events
    action = "close"
    code = 4000

See docs/emulator.md for every action and its parameters.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from birbctl.emulator.faults import FaultStep, parse_step
from birbctl.errors import ConfigError


def parse_scenario(text: str, *, source: str = "scenario") -> tuple[FaultStep, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses per nested array or table
        raise ConfigError(f"{source}: not valid TOML: nested too deeply") from None
    unknown = set(data) - {"step", "description", "name"}
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    steps = data.get("step", [])
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ConfigError(f"{source}: steps must be [[step]] tables")
    return tuple(
        parse_step(spec, where=f"{source}: step {index}") for index, spec in enumerate(steps, 1)
    )


def load_scenario(path: str | Path) -> tuple[FaultStep, ...]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte offset {exc.start})") from None
    return parse_scenario(text, source=str(path))
