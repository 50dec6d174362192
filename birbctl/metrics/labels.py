"""Bounded label values: every label a metric carries comes from a fixed set.

Prometheus keeps one time series per label combination, so a label fed from the wire
(an event name, a close code) must not take values a gateway can invent. Names and
codes outside the known sets fold into "other".
"""

from __future__ import annotations

from birbctl.protocol.events import ReconnectReason
from birbctl.protocol.opcodes import CloseCode

#: The gateway's dispatch event names (Discord API v10, "Receive Events"). A dispatch
#: named otherwise counts as "other".
_EVENT_NAMES = """
    READY RESUMED APPLICATION_COMMAND_PERMISSIONS_UPDATE
    AUTO_MODERATION_RULE_CREATE AUTO_MODERATION_RULE_UPDATE AUTO_MODERATION_RULE_DELETE
    AUTO_MODERATION_ACTION_EXECUTION
    CHANNEL_CREATE CHANNEL_UPDATE CHANNEL_DELETE CHANNEL_PINS_UPDATE
    THREAD_CREATE THREAD_UPDATE THREAD_DELETE THREAD_LIST_SYNC THREAD_MEMBER_UPDATE
    THREAD_MEMBERS_UPDATE
    ENTITLEMENT_CREATE ENTITLEMENT_UPDATE ENTITLEMENT_DELETE
    GUILD_CREATE GUILD_UPDATE GUILD_DELETE GUILD_AUDIT_LOG_ENTRY_CREATE
    GUILD_BAN_ADD GUILD_BAN_REMOVE GUILD_EMOJIS_UPDATE GUILD_STICKERS_UPDATE
    GUILD_INTEGRATIONS_UPDATE GUILD_MEMBER_ADD GUILD_MEMBER_REMOVE GUILD_MEMBER_UPDATE
    GUILD_MEMBERS_CHUNK GUILD_ROLE_CREATE GUILD_ROLE_UPDATE GUILD_ROLE_DELETE
    GUILD_SCHEDULED_EVENT_CREATE GUILD_SCHEDULED_EVENT_UPDATE GUILD_SCHEDULED_EVENT_DELETE
    GUILD_SCHEDULED_EVENT_USER_ADD GUILD_SCHEDULED_EVENT_USER_REMOVE
    GUILD_SOUNDBOARD_SOUND_CREATE GUILD_SOUNDBOARD_SOUND_UPDATE GUILD_SOUNDBOARD_SOUND_DELETE
    GUILD_SOUNDBOARD_SOUNDS_UPDATE SOUNDBOARD_SOUNDS
    INTEGRATION_CREATE INTEGRATION_UPDATE INTEGRATION_DELETE INTERACTION_CREATE
    INVITE_CREATE INVITE_DELETE
    MESSAGE_CREATE MESSAGE_UPDATE MESSAGE_DELETE MESSAGE_DELETE_BULK
    MESSAGE_REACTION_ADD MESSAGE_REACTION_REMOVE MESSAGE_REACTION_REMOVE_ALL
    MESSAGE_REACTION_REMOVE_EMOJI MESSAGE_POLL_VOTE_ADD MESSAGE_POLL_VOTE_REMOVE
    PRESENCE_UPDATE STAGE_INSTANCE_CREATE STAGE_INSTANCE_UPDATE STAGE_INSTANCE_DELETE
    SUBSCRIPTION_CREATE SUBSCRIPTION_UPDATE SUBSCRIPTION_DELETE
    TYPING_START USER_UPDATE VOICE_CHANNEL_EFFECT_SEND VOICE_STATE_UPDATE
    VOICE_SERVER_UPDATE WEBHOOKS_UPDATE
"""
DISCORD_EVENTS: frozenset[str] = frozenset(_EVENT_NAMES.split())

OTHER = "other"

#: Close codes that keep their number as a label: the gateway's own and RFC 6455's.
KNOWN_CLOSE_CODES: frozenset[int] = frozenset(
    {int(code) for code in CloseCode} | set(range(1000, 1016))
)

#: Why a shard reconnected: the session's own word for it (`Reconnecting.reason`).
REASON_LABELS: tuple[str, ...] = tuple(reason.value for reason in ReconnectReason)


def event_label(name: str) -> str:
    """A dispatch's `event` label: its name if Discord documents it, else "other"."""
    return name if name in DISCORD_EVENTS else OTHER


def close_code_label(code: int | None) -> str:
    """A close's `code` label: the number if known, "none" for no code (a dropped
    connection, or a close frame without one), else "other"."""
    if code is None:
        return "none"
    return str(code) if code in KNOWN_CLOSE_CODES else OTHER
