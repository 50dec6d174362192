"""What the session hands its driver: actions to perform and notifications to show.

Actions (OpenConnection, SendPayload, CloseConnection, DropConnection) must be carried
out in order; notifications (the Notice subclasses) are for rendering, recording and
counting, need no answer, and describe themselves as a line and as JSON. None of them
carries the token in its repr.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeAlias

from birbctl.protocol.payloads import Payload, redact
from birbctl.protocol.ratelimit import payload_size
from birbctl.protocol.status import GatewayStatus

# --- actions: the driver performs these -------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenConnection:
    """Open a websocket to `url`; then call connection_opened() or connection_failed()."""

    url: str


@dataclass(frozen=True, slots=True, repr=False)
class SendPayload:
    """Send `data` (already encoded; str for a text frame, bytes as the codec made it).

    `payload` is what was encoded, for recording; use `redacted()` to show it.
    """

    payload: Payload
    data: bytes | str
    heartbeat: bool = False

    @property
    def op(self) -> int:
        op = self.payload.get("op")
        return op if isinstance(op, int) else -1

    def redacted(self) -> Payload:
        return redact(self.payload)

    def __repr__(self) -> str:
        return (
            f"SendPayload(payload={self.redacted()!r}, data=<{payload_size(self.data)} bytes>, "
            f"heartbeat={self.heartbeat!r})"
        )


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close the websocket with this code and reason; then call connection_closed()."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class DropConnection:
    """Abort the TCP connection without a close frame; then call connection_closed(None, ...)."""


# --- notifications: render, record, count ----------------------------------------------

#: How much a notification matters to a person watching: the dashboard log's colour.
Level: TypeAlias = Literal["info", "warn", "error"]


class Notice:
    """What every notification says about itself, so views need no isinstance ladder.

    `line()` is the one line a person reads (the plain view, tail's stderr and the
    dashboard log all print it), `record()` the JSON Lines object (`--json`), `level`
    the log's severity, and `trouble()` why a shard that never got READY failed, for
    the error at the end. None means "nothing to show" in that form.
    """

    __slots__ = ()
    level: ClassVar[Level] = "info"

    def line(self) -> str | None:
        return None

    def record(self) -> dict[str, Any] | None:
        return None

    def trouble(self) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class StatusChanged(Notice):
    old: GatewayStatus
    new: GatewayStatus
    reason: str

    def line(self) -> str:
        return f"{self.new.value} (was {self.old.value}): {self.reason}"

    def record(self) -> dict[str, Any]:
        return {
            "event": "status",
            "old": self.old.value,
            "new": self.new.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class DispatchReceived(Notice):
    """Counted (the session's counters) and shown by tail, but no state change."""

    t: str
    s: int | None
    d: Any


@dataclass(frozen=True, slots=True)
class HeartbeatSent(Notice):
    """`scheduled` is False for beats the gateway (op 1) or the user asked for."""

    sequence: int | None
    scheduled: bool = True


@dataclass(frozen=True, slots=True)
class HeartbeatAcked(Notice):
    """In JSON Lines (a ping series), not in the plain line view: one every 41 s is noise."""

    rtt_ms: float | None  # None for an ACK that matched no outstanding heartbeat

    def record(self) -> dict[str, Any]:
        return {"event": "heartbeat_ack", "rtt_ms": self.rtt_ms}


@dataclass(frozen=True, slots=True)
class SessionInvalidated(Notice):
    resumable: bool
    level: ClassVar[Level] = "warn"

    def line(self) -> str:
        return f"session invalidated (resumable: {'true' if self.resumable else 'false'})"

    def record(self) -> dict[str, Any]:
        return {"event": "invalid_session", "resumable": self.resumable}

    def trouble(self) -> str:
        return self.line()


class ReconnectReason(StrEnum):
    """Why a session reconnects, as one word: what metrics label a reconnect with (`why`
    says it in a sentence, and its wording may change)."""

    OP7 = "op7"  # the gateway asked (op 7)
    INVALID_SESSION = "invalid_session"  # op 9
    ZOMBIE = "zombie"  # no HEARTBEAT_ACK since the last heartbeat
    HELLO_TIMEOUT = "hello_timeout"
    GATEWAY_CLOSE = "gateway_close"  # the gateway closed, or the connection dropped
    CONNECT_FAILED = "connect_failed"
    PROTOCOL_ERROR = "protocol_error"
    USER = "user"  # `birbctl reconnect` or `terminate`


@dataclass(frozen=True, slots=True)
class Reconnecting(Notice):
    """A new connection opens after `delay` seconds (0: now), to resume or to identify."""

    delay: float
    resume: bool
    why: str
    reason: ReconnectReason
    level: ClassVar[Level] = "warn"

    def line(self) -> str:
        mode = "resume" if self.resume else "identify"
        return f"reconnecting in {self.delay:.1f} s to {mode}: {self.why}"

    def record(self) -> dict[str, Any]:
        return {
            "event": "reconnecting",
            "delay": self.delay,
            "resume": self.resume,
            "why": self.why,
            "reason": self.reason.value,
        }

    def trouble(self) -> str:
        return self.why


@dataclass(frozen=True, slots=True)
class FatalClose(Notice):
    """The gateway closed with a code that forbids reconnecting; exit non-zero."""

    code: int | None
    reason: str
    description: str
    level: ClassVar[Level] = "error"

    def line(self) -> str:
        return f"fatal close {self.code}: {self.description}"

    def record(self) -> dict[str, Any]:
        return {
            "event": "fatal_close",
            "code": self.code,
            "reason": self.reason,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class ProtocolViolation(Notice):
    """The gateway sent something that breaks the protocol, or a frame failed to decode.

    `closing` says whether the session is closing the connection (to resume) over it.
    """

    message: str
    closing: bool
    level: ClassVar[Level] = "error"

    def line(self) -> str:
        return f"protocol error: {self.message}"

    def record(self) -> dict[str, Any]:
        return {"event": "protocol_error", "message": self.message, "closing": self.closing}

    def trouble(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class PendingSendsDropped(Notice):
    """Queued user payloads discarded because the session ended before they could go."""

    count: int
    why: str


DriverAction: TypeAlias = OpenConnection | SendPayload | CloseConnection | DropConnection
Notification: TypeAlias = (
    StatusChanged
    | DispatchReceived
    | HeartbeatSent
    | HeartbeatAcked
    | SessionInvalidated
    | Reconnecting
    | FatalClose
    | ProtocolViolation
    | PendingSendsDropped
)
Action: TypeAlias = DriverAction | Notification
