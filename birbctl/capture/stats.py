"""`decode --stats`: counts and sizes gathered while streaming, rendered by render/."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from birbctl.capture.message import Message
from birbctl.protocol.opcodes import Opcode


def op_name(op: int | None) -> str:
    if op is None:
        return "?"
    try:
        return Opcode(op).name
    except ValueError:
        return str(op)


@dataclass(slots=True)
class PacketStats:
    messages: int = 0
    sent: int = 0
    received: int = 0
    wire_bytes: int = 0
    inflated_bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    by_op: Counter[str] = field(default_factory=Counter)
    by_event: Counter[str] = field(default_factory=Counter)

    def add(self, message: Message) -> None:
        self.messages += 1
        if message.direction == "send":
            self.sent += 1
        elif message.direction == "recv":
            self.received += 1
        self.wire_bytes += message.wire_size
        self.inflated_bytes += message.size
        self.by_op[op_name(message.op)] += 1
        t = message.t
        if t is not None:
            self.by_event[t] += 1
        ts = message.ts
        if ts is not None:
            if self.first_ts is None or ts < self.first_ts:
                self.first_ts = ts
            if self.last_ts is None or ts > self.last_ts:
                self.last_ts = ts

    @property
    def ratio(self) -> float | None:
        """Inflated bytes per wire byte (higher = better compression)."""
        return self.inflated_bytes / self.wire_bytes if self.wire_bytes else None

    @property
    def span(self) -> float | None:
        if self.first_ts is None or self.last_ts is None:
            return None
        return self.last_ts - self.first_ts
