"""Gateway opcodes, close codes, and what to do after each close (a table, not branches).

The close policy is data so that the session, the emulator and the docs agree on one
answer per code, and a user told "fatal" is also told what to fix.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from birbctl.errors import LocalProtocolError
from birbctl.protocol.intents import PRIVILEGED_INTENTS, Intents, parse_intents

__all__ = [
    "CLIENT_CLOSE_CODES_TEXT",
    "CLOSE_TO_RESUME",
    "PRIVILEGED_INTENTS",
    "SERVER_CLOSE_CODES_TEXT",
    "SESSION_ENDING_CLIENT_CODES",
    "USER_OPS",
    "CloseAction",
    "CloseCode",
    "ClosePolicy",
    "Intents",
    "Opcode",
    "check_client_close",
    "client_close_ends_session",
    "client_may_send",
    "close_label",
    "close_policy",
    "describe_close",
    "ends_session",
    "parse_intents",
    "policy_for",
    "server_may_send",
]


class Opcode(enum.IntEnum):
    """Gateway opcodes (API v10)."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11
    REQUEST_SOUNDBOARD_SOUNDS = 31
    REQUEST_CHANNEL_INFO = 43


#: Ops a user may send through the session; the session owns the rest of the send side.
USER_OPS: frozenset[int] = frozenset(
    {
        Opcode.PRESENCE_UPDATE,
        Opcode.VOICE_STATE_UPDATE,
        Opcode.REQUEST_GUILD_MEMBERS,
        Opcode.REQUEST_SOUNDBOARD_SOUNDS,
        Opcode.REQUEST_CHANNEL_INFO,
    }
)


class CloseCode(enum.IntEnum):
    """WebSocket close codes the gateway uses, with Discord's names."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    ABNORMAL_CLOSURE = 1006
    UNKNOWN_ERROR = 4000
    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    #: Gone from the current docs; older gateways sent it for a dead session.
    SESSION_NO_LONGER_VALID = 4006
    INVALID_SEQ = 4007
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    INVALID_SHARD = 4010
    SHARDING_REQUIRED = 4011
    INVALID_API_VERSION = 4012
    INVALID_INTENTS = 4013
    DISALLOWED_INTENTS = 4014


#: The code a client closes with when it means to resume: anything but 1000/1001,
#: which would invalidate the session.
CLOSE_TO_RESUME = 4000


class CloseAction(enum.Enum):
    """What the client does after the connection closed with a given code."""

    RESUME = "resume"
    REIDENTIFY = "reidentify"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class ClosePolicy:
    action: CloseAction
    description: str


_R, _I, _F = CloseAction.RESUME, CloseAction.REIDENTIFY, CloseAction.FATAL

_POLICIES: dict[int | None, ClosePolicy] = {
    None: ClosePolicy(_R, "the connection closed without a close code"),
    1000: ClosePolicy(_R, "the gateway closed the connection normally"),
    1001: ClosePolicy(_R, "the gateway is going away (restart or deploy)"),
    1006: ClosePolicy(_R, "the connection dropped without a close frame"),
    4000: ClosePolicy(_R, "unknown error on the gateway's side"),
    4001: ClosePolicy(_R, "the gateway did not understand an opcode or payload we sent"),
    4002: ClosePolicy(
        _R, "the gateway could not decode a payload we sent (bad encoding, or over 4096 bytes)"
    ),
    4003: ClosePolicy(_R, "a payload was sent before identifying"),
    4004: ClosePolicy(
        _F,
        "authentication failed: check the token (DISCORD_TOKEN or --token-file); "
        "reset it in the developer portal if it leaked",
    ),
    4005: ClosePolicy(_R, "more than one IDENTIFY was sent on this connection"),
    4006: ClosePolicy(_I, "the session is no longer valid"),
    4007: ClosePolicy(_I, "the sequence sent in RESUME was invalid"),
    4008: ClosePolicy(_R, "rate limited: more than 120 payloads were sent in 60 s"),
    4009: ClosePolicy(_I, "the session timed out"),
    4010: ClosePolicy(
        _F,
        "invalid shard: the shard id must be below the shard count, and large bots must "
        "use a shard count that GET /gateway/bot accepts",
    ),
    4011: ClosePolicy(
        _F,
        "sharding required: the bot is in too many guilds for one connection "
        "(2500 per shard); connect with more shards",
    ),
    4012: ClosePolicy(_F, "invalid API version: the gateway rejected the v= parameter of the URL"),
    4013: ClosePolicy(
        _F,
        "invalid intents: the intents value is not a valid bitfield; check --intents",
    ),
    4014: ClosePolicy(
        _F,
        "disallowed intents: enable the privileged intents (GUILD_MEMBERS, "
        "GUILD_PRESENCES, MESSAGE_CONTENT) in the developer portal or remove them",
    ),
}

#: The close-code policy table: code (None = no close code) -> action and description.
CLOSE_POLICIES: Mapping[int | None, ClosePolicy] = MappingProxyType(_POLICIES)


#: Codes that end the gateway session when the client sends them (Discord: "closing with
#: 1000 or 1001 invalidates the session"). Any other code a client may send keeps it.
SESSION_ENDING_CLIENT_CODES: frozenset[int] = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY}
)
#: What the client-close rule says, for help texts and error messages.
CLIENT_CLOSE_CODES_TEXT = "1000, 1001 or 3000-4999"


def client_may_send(code: int) -> bool:
    """A close code a client may put in its close frame: 1000/1001 end the session,
    3000-4999 (application codes, Discord's own 4000-range included) keep it."""
    return code in SESSION_ENDING_CLIENT_CODES or 3000 <= code <= 4999


#: What the server-close rule says, for error messages.
SERVER_CLOSE_CODES_TEXT = "1000-1003, 1007-1014 or 3000-4999"


def client_close_ends_session(code: int | None) -> bool:
    """Whether a client's close frame with `code` ends its gateway session (1000/1001).
    A connection lost without a close code keeps it, as any other code does: the
    emulator forgets a session on exactly this rule."""
    return code in SESSION_ENDING_CLIENT_CODES


def server_may_send(code: int) -> bool:
    """A close code a server (the emulator) may send: RFC 6455's defined codes that may
    appear on the wire (1000-1014 but 1004-1006), and 3000-4999."""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


def ends_session(code: int | None) -> bool:
    """Whether a gateway close with `code` leaves no session to resume: the client must
    identify again (or stop). The emulator forgets the session on the same codes."""
    return policy_for(code).action is not CloseAction.RESUME


def check_client_close(code: int, *, resume: bool) -> None:
    """Refuse a client close code that cannot be sent, or that cannot keep the session
    when the caller means to resume; the message says what to use instead."""
    if not client_may_send(code):
        raise LocalProtocolError(f"cannot close with code {code}: use {CLIENT_CLOSE_CODES_TEXT}")
    if resume and client_close_ends_session(code):
        raise LocalProtocolError(f"close code {code} ends the session: it cannot resume")


def policy_for(code: int | None) -> ClosePolicy:
    """Known codes from the table; any other code resumes, as an unknown error would."""
    policy = CLOSE_POLICIES.get(code)
    if policy is None:
        return ClosePolicy(_R, f"unknown close code {code}")
    return policy


def close_policy(code: int | None) -> CloseAction:
    return policy_for(code).action


def describe_close(code: int | None) -> str:
    return policy_for(code).description


def close_label(code: int | None) -> str:
    """`4004 AUTHENTICATION_FAILED`, `4999`, or `no close code`: for one-line messages."""
    if code is None:
        return "no close code"
    try:
        return f"{code} {CloseCode(code).name}"
    except ValueError:
        return str(code)
