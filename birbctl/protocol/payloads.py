"""The payloads the session builds, and the one place tokens get redacted.

Tokens travel only inside IDENTIFY and RESUME; everything that shows, logs or records
a payload goes through `redact()` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from birbctl.protocol.opcodes import Opcode

Payload = dict[str, Any]

REDACTED = "[REDACTED]"


class Secret:
    """A string that never shows itself in a repr, str, or f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def identify_payload(
    token: str,
    *,
    intents: int,
    properties: Mapping[str, str],
    shard: tuple[int, int] | None,
    large_threshold: int,
    presence: Mapping[str, Any] | None,
    compress: bool | None,
) -> Payload:
    d: dict[str, Any] = {
        "token": token,
        "properties": dict(properties),
        "intents": intents,
        "large_threshold": large_threshold,
    }
    if compress is not None:
        d["compress"] = compress
    if shard is not None:
        d["shard"] = [shard[0], shard[1]]
    if presence is not None:
        d["presence"] = dict(presence)
    return {"op": int(Opcode.IDENTIFY), "d": d}


def resume_payload(token: str, session_id: str, seq: int | None) -> Payload:
    return {"op": int(Opcode.RESUME), "d": {"token": token, "session_id": session_id, "seq": seq}}


def heartbeat_payload(seq: int | None) -> Payload:
    return {"op": int(Opcode.HEARTBEAT), "d": seq}


def redact(payload: Mapping[str, Any]) -> Payload:
    """A copy fit to show or record: `d.token` replaced, the rest shared, not copied."""
    out = dict(payload)
    d = out.get("d")
    if isinstance(d, Mapping) and "token" in d:
        out["d"] = {**d, "token": REDACTED}
    return out
