"""The session's status: birb's eight states, as data a renderer can show as-is."""

from __future__ import annotations

import enum


class GatewayStatus(enum.StrEnum):
    """Where one shard's session stands.

    IDLE         never connected
    CONNECTING   opening the socket, or open and waiting for HELLO
    IDENTIFYING  IDENTIFY sent, waiting for READY
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
#: Every change of status the session may make, as data (h11-style): `_set_status`
#: refuses anything else, so a new code path cannot invent a transition unnoticed.
#: A handshake status may jump to READY or WAITING_FOR_GUILDS because the gateway
#: decides: a READY or RESUMED that arrives early (or a second READY) is taken as sent.
TRANSITIONS: dict[GatewayStatus, frozenset[GatewayStatus]] = {
    _S.IDLE: frozenset({_S.CONNECTING, _S.DISCONNECTED}),
    _S.CONNECTING: frozenset(
        {
            _S.IDENTIFYING,
            _S.RESUMING,
            _S.WAITING_FOR_GUILDS,
            _S.READY,
            _S.RECONNECTING,
            _S.DISCONNECTED,
        }
    ),
    _S.IDENTIFYING: frozenset({_S.WAITING_FOR_GUILDS, _S.READY, _S.RECONNECTING, _S.DISCONNECTED}),
    _S.RESUMING: frozenset({_S.WAITING_FOR_GUILDS, _S.READY, _S.RECONNECTING, _S.DISCONNECTED}),
    _S.WAITING_FOR_GUILDS: frozenset({_S.READY, _S.RECONNECTING, _S.DISCONNECTED}),
    _S.READY: frozenset({_S.WAITING_FOR_GUILDS, _S.RECONNECTING, _S.DISCONNECTED}),
    _S.RECONNECTING: frozenset({_S.CONNECTING, _S.DISCONNECTED}),
    _S.DISCONNECTED: frozenset({_S.CONNECTING}),
}


def may_change(old: GatewayStatus, new: GatewayStatus) -> bool:
    return new is old or new in TRANSITIONS[old]
