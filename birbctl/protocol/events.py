"""What the session hands its driver: actions to perform and notifications to show.

Actions (OpenConnection, SendPayload, CloseConnection, DropConnection) must be carried
out in order; notifications are for rendering, recording and counting, and need no
answer. None of them carries the token in its repr.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

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


@dataclass(frozen=True, slots=True)
class StatusChanged:
    old: GatewayStatus
    new: GatewayStatus
    reason: str


@dataclass(frozen=True, slots=True)
class DispatchReceived:
    t: str
    s: int | None
    d: Any


@dataclass(frozen=True, slots=True)
class HeartbeatSent:
    """`scheduled` is False for beats the gateway (op 1) or the user asked for."""

    sequence: int | None
    scheduled: bool = True


@dataclass(frozen=True, slots=True)
class HeartbeatAcked:
    rtt_ms: float | None  # None for an ACK that matched no outstanding heartbeat


@dataclass(frozen=True, slots=True)
class SessionInvalidated:
    resumable: bool


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """A new connection opens after `delay` seconds (0: now), to resume or to identify."""

    delay: float
    resume: bool
    why: str


@dataclass(frozen=True, slots=True)
class FatalClose:
    """The gateway closed with a code that forbids reconnecting; exit non-zero."""

    code: int | None
    reason: str
    description: str


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The gateway sent something that breaks the protocol, or a frame failed to decode.

    `closing` says whether the session is closing the connection (to resume) over it.
    """

    message: str
    closing: bool


@dataclass(frozen=True, slots=True)
class PendingSendsDropped:
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

DRIVER_ACTIONS = (OpenConnection, SendPayload, CloseConnection, DropConnection)
