"""The session's phase, its table of allowed changes, and the status shown to people.

`Phase` is the source of truth: one member says where one shard's session stands, from
the socket up to the gateway handshake, and `PHASE_TRANSITIONS` lists every change the
session may make (h11-style, as data). `GatewaySession._set_phase` is the one place the
phase changes, and it refuses anything the table does not list with LocalProtocolError,
so a new code path cannot invent a transition unnoticed.

`GatewayStatus` (birb's eight states) is a pure function of the phase, `Phase.status`:
several phases read as one status (waiting for HELLO and opening the socket are both
CONNECTING). The status table `TRANSITIONS` is derived from the phase table, so it
cannot disagree with what the session does.
"""

from __future__ import annotations

import enum

from birbctl.errors import LocalProtocolError

__all__ = [
    "PHASE_TRANSITIONS",
    "TRANSITIONS",
    "GatewayStatus",
    "Phase",
    "check_phase_change",
    "may_change",
]


class GatewayStatus(enum.StrEnum):
    """Where one shard's session stands, as a person reads it.

    IDLE         never connected
    CONNECTING   opening the socket, or open and waiting for HELLO
    IDENTIFYING  IDENTIFY sent (or waiting for its identify slot), waiting for READY
    WAITING_FOR_GUILDS  READY arrived; unavailable guilds still to come (GUILD_CREATE)
    READY        all guilds arrived, guild_ready_timeout passed, or RESUMED
    RESUMING     RESUME sent, replayed events arriving, waiting for RESUMED
    RECONNECTING closing to reconnect, or waiting out the backoff delay
    DISCONNECTED closed for good: by the user, a fatal close code, or prevent_reconnect
    """

    IDLE = "idle"
    CONNECTING = "connecting"
    IDENTIFYING = "identifying"
    WAITING_FOR_GUILDS = "waiting_for_guilds"
    READY = "ready"
    RESUMING = "resuming"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


_S = GatewayStatus


class _Socket(enum.Enum):
    NONE = "none"  # no connection
    OPENING = "opening"  # OpenConnection emitted; the driver has not said opened yet
    OPEN = "open"  # opened and not yet reported gone


class Phase(enum.Enum):
    """The session's whole lifecycle, one member at a time.

    Each member carries what the session asks of it on every call, so no flag restates
    it: `status` (the public projection), `connected`/`connecting` (the socket, as the
    driver reported it), `live` (open and not on its way out: gateway ops are answered
    and timers run) and `leaving` (a close or drop of ours is under way; what follows
    it is in the name: resume, identify afresh, or stop).

    ABORTING_* is a drop issued while the socket was still opening: the driver may yet
    report it opened (then CLOSING_*), failed or closed.
    """

    IDLE = ("idle", _S.IDLE, _Socket.NONE)
    OPENING = ("opening", _S.CONNECTING, _Socket.OPENING)
    AWAITING_HELLO = ("awaiting_hello", _S.CONNECTING, _Socket.OPEN)
    IDENTIFY_HELD = ("identify_held", _S.IDENTIFYING, _Socket.OPEN)  # waits for its slot
    IDENTIFYING = ("identifying", _S.IDENTIFYING, _Socket.OPEN)
    RESUMING = ("resuming", _S.RESUMING, _Socket.OPEN)
    WAITING_FOR_GUILDS = ("waiting_for_guilds", _S.WAITING_FOR_GUILDS, _Socket.OPEN)
    READY = ("ready", _S.READY, _Socket.OPEN)
    CLOSING_TO_RESUME = ("closing_to_resume", _S.RECONNECTING, _Socket.OPEN, True)
    CLOSING_TO_IDENTIFY = ("closing_to_identify", _S.RECONNECTING, _Socket.OPEN, True)
    CLOSING_TO_STOP = ("closing_to_stop", _S.DISCONNECTED, _Socket.OPEN, True)
    ABORTING_TO_RESUME = ("aborting_to_resume", _S.RECONNECTING, _Socket.OPENING, True)
    ABORTING_TO_IDENTIFY = ("aborting_to_identify", _S.RECONNECTING, _Socket.OPENING, True)
    ABORTING_TO_STOP = ("aborting_to_stop", _S.DISCONNECTED, _Socket.OPENING, True)
    RECONNECT_WAIT = ("reconnect_wait", _S.RECONNECTING, _Socket.NONE)  # the backoff delay
    STOPPED = ("stopped", _S.DISCONNECTED, _Socket.NONE)

    def __init__(
        self, label: str, status: GatewayStatus, socket: _Socket, leaving: bool = False
    ) -> None:
        self.label = label
        self.status = status
        self.connected = socket is _Socket.OPEN
        self.connecting = socket is _Socket.OPENING
        self.leaving = leaving
        self.live = self.connected and not leaving

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"<Phase.{self.name}>"


_P = Phase
_GONE = frozenset({_P.RECONNECT_WAIT, _P.STOPPED})  # the connection ended: retry, or stop
_LIVE_EXITS = _GONE | {_P.CLOSING_TO_RESUME, _P.CLOSING_TO_IDENTIFY, _P.CLOSING_TO_STOP}

#: Every change of phase the session may make. A handshake phase may jump to READY or
#: WAITING_FOR_GUILDS because the gateway decides: a READY or RESUMED that arrives early
#: (or a second READY) is taken as sent. A close of ours may still change what follows
#: it (the user asks for a new session, or to stop), never back to resuming.
PHASE_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.IDLE: frozenset({_P.OPENING}),
    _P.OPENING: _GONE
    | {_P.AWAITING_HELLO, _P.ABORTING_TO_RESUME, _P.ABORTING_TO_IDENTIFY, _P.ABORTING_TO_STOP},
    _P.AWAITING_HELLO: _LIVE_EXITS
    | {_P.IDENTIFY_HELD, _P.IDENTIFYING, _P.RESUMING, _P.WAITING_FOR_GUILDS, _P.READY},
    _P.IDENTIFY_HELD: _LIVE_EXITS | {_P.IDENTIFYING, _P.WAITING_FOR_GUILDS, _P.READY},
    _P.IDENTIFYING: _LIVE_EXITS | {_P.WAITING_FOR_GUILDS, _P.READY},
    _P.RESUMING: _LIVE_EXITS | {_P.WAITING_FOR_GUILDS, _P.READY},
    _P.WAITING_FOR_GUILDS: _LIVE_EXITS | {_P.READY},
    _P.READY: _LIVE_EXITS | {_P.WAITING_FOR_GUILDS},
    _P.CLOSING_TO_RESUME: _GONE | {_P.CLOSING_TO_IDENTIFY, _P.CLOSING_TO_STOP},
    _P.CLOSING_TO_IDENTIFY: _GONE | {_P.CLOSING_TO_STOP},
    _P.CLOSING_TO_STOP: frozenset({_P.STOPPED}),
    _P.ABORTING_TO_RESUME: _GONE
    | {_P.CLOSING_TO_RESUME, _P.ABORTING_TO_IDENTIFY, _P.ABORTING_TO_STOP},
    _P.ABORTING_TO_IDENTIFY: _GONE | {_P.CLOSING_TO_IDENTIFY, _P.ABORTING_TO_STOP},
    _P.ABORTING_TO_STOP: frozenset({_P.CLOSING_TO_STOP, _P.STOPPED}),
    _P.RECONNECT_WAIT: frozenset({_P.OPENING, _P.STOPPED}),
    _P.STOPPED: frozenset({_P.OPENING}),
}


def check_phase_change(old: Phase, new: Phase) -> None:
    """LocalProtocolError unless the table allows `old` -> `new` (staying put always is)."""
    if new is not old and new not in PHASE_TRANSITIONS[old]:
        raise LocalProtocolError(f"internal error: the session cannot go from {old} to {new}")


#: Every change of status the session may make: the phase table, seen through `status`.
TRANSITIONS: dict[GatewayStatus, frozenset[GatewayStatus]] = {
    status: frozenset(
        after.status
        for before in Phase
        if before.status is status
        for after in PHASE_TRANSITIONS[before]
        if after.status is not status
    )
    for status in GatewayStatus
}


def may_change(old: GatewayStatus, new: GatewayStatus) -> bool:
    return new is old or new in TRANSITIONS[old]
