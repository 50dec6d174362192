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
