"""The packet filters `decode` (and `tail`) share: event globs, ops, direction, heartbeats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from birbctl.capture.message import Message
from birbctl.errors import ConfigError
from birbctl.protocol.opcodes import Opcode
from birbctl.protocol.wire import Direction

_HEARTBEAT_OPS = frozenset({int(Opcode.HEARTBEAT), int(Opcode.HEARTBEAT_ACK)})


def parse_op(text: str) -> int:
    """An opcode from a number or a name, any case, `-` or `_`: 11, HEARTBEAT_ACK, hello."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        return int(Opcode[text.upper().replace("-", "_")])
    except KeyError:
        names = ", ".join(op.name for op in Opcode)
        raise ConfigError(f"--op {text!r}: not a number or one of {names}") from None


@dataclass(frozen=True, slots=True)
class PacketFilter:
    """Which messages to keep; an empty filter keeps everything.

    Event globs match dispatch names case-insensitively (`message_*` = `MESSAGE_*`);
    a message whose direction is unknown (raw files) passes `--dir`.
    """

    events: tuple[str, ...] = ()
    ops: frozenset[int] = frozenset()
    direction: Direction | None = None
    heartbeats: bool = True

    @classmethod
    def build(
        cls,
        events: Iterable[str] = (),
        ops: Iterable[str] = (),
        direction: Direction | None = None,
        heartbeats: bool = True,
    ) -> PacketFilter:
        return cls(
            events=tuple(e.upper() for e in events),
            ops=frozenset(parse_op(op) for op in ops),
            direction=direction,
            heartbeats=heartbeats,
        )

    @property
    def empty(self) -> bool:
        return not self.events and not self.ops and self.direction is None and self.heartbeats

    def matches(self, message: Message) -> bool:
        if self.direction is not None and message.direction not in (None, self.direction):
            return False
        op = message.op
        if not self.heartbeats and op in _HEARTBEAT_OPS:
            return False
        if self.ops and op not in self.ops:
            return False
        if self.events:
            t = message.t
            return t is not None and any(fnmatchcase(t.upper(), glob) for glob in self.events)
        return True
