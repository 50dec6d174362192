"""The synthetic Discord the emulator serves: a bot user, guilds, channels, roles, members.

Shapes follow the API docs (guild, channel, role, member, user objects) with every field
discord.py and hikari read when they build their caches, so their parsers run as they do
against Discord. Deterministic for a seed, so tests can name what they expect.
"""

from __future__ import annotations

import base64
import binascii
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from birbctl.emulator.snowflake import snowflake_at

DEFAULT_BOT_ID = 1100000000000000001
_DAY_MS = 86_400_000

_ADJECTIVES = ("Cozy", "Quiet", "Busy", "Sunny", "Hidden", "Loud", "Tiny", "Grand", "Rusty")
_NOUNS = ("Nest", "Harbor", "Garden", "Workshop", "Library", "Arcade", "Tavern", "Lab")
_NAMES = (
    "robin", "wren", "finch", "heron", "kestrel", "lark", "magpie", "osprey", "plover",
    "sparrow", "swift", "tern", "thrush", "warbler", "starling", "puffin", "egret", "ibis",
)  # fmt: skip

# Permissions as decimal strings, as the API sends them.
EVERYONE_PERMISSIONS = "1071698660929"
MODERATOR_PERMISSIONS = "1099511627775"


def iso(ms: int) -> str:
    """Discord's timestamp format: microseconds and an explicit +00:00."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="microseconds")


def bot_id_from_token(token: str) -> int:
    """A bot token's first part is the bot's user id in base64; use it when it is one."""
    first = token.removeprefix("Bot ").split(".", 1)[0]
    try:
        text = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return DEFAULT_BOT_ID
    if text.isdigit() and 0 < int(text) < 2**63:
        return int(text)
    return DEFAULT_BOT_ID


def bot_user(user_id: int) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": "birbctl-emulator",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": True,
        "verified": True,
        "mfa_enabled": False,
        "flags": 0,
        "public_flags": 0,
        "email": None,
        "locale": "en-US",
        "premium_type": 0,
    }


def public_user(user_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name.capitalize(),
        "avatar": None,
        "public_flags": 0,
    }


def member(user: dict[str, Any], roles: list[str], joined_ms: int) -> dict[str, Any]:
    return {
        "user": user,
        "nick": None,
        "avatar": None,
        "banner": None,
        "roles": roles,
        "joined_at": iso(joined_ms),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }


@dataclass(slots=True)
class Guild:
    id: int
    name: str
    owner_id: int
    created_ms: int
    roles: list[dict[str, Any]]
    channels: list[dict[str, Any]]
    text_channel_ids: list[int]
    members: list[dict[str, Any]]
    member_role_id: int
    emojis: list[dict[str, Any]]
    # Users who post, type and react in this guild: (id, user object, member object).
    users: list[tuple[int, dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def _role(
    role_id: int, name: str, position: int, permissions: str, color: int = 0
) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": position > 0,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": permissions,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def _channel(
    channel_id: int, name: str, kind: int, position: int, parent: int | None
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "id": str(channel_id),
        "type": kind,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "parent_id": None if parent is None else str(parent),
        "flags": 0,
    }
    if kind == 0:
        channel.update(
            topic=None, nsfw=False, last_message_id=None, rate_limit_per_user=0,
            default_thread_rate_limit_per_user=0,
        )  # fmt: skip
    elif kind == 2:
        channel.update(
            bitrate=64000, user_limit=0, rtc_region=None, nsfw=False, rate_limit_per_user=0,
            last_message_id=None, video_quality_mode=1,
        )  # fmt: skip
    return channel


class World:
    """The bot's guilds. Guild ids are minted one millisecond apart, so
    `(guild_id >> 22) % num_shards` spreads them evenly over any shard count."""

    def __init__(self, guilds: int, *, seed: int | None = None, now_ms: int | None = None) -> None:
        self.rng = random.Random(seed)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        self.guilds: list[Guild] = []
        base = now - 400 * _DAY_MS
        for index in range(guilds):
            self.guilds.append(self._make_guild(index, base + index))
        self.by_id = {g.id: g for g in self.guilds}

    def _make_guild(self, index: int, created_ms: int) -> Guild:
        rng = self.rng
        gid = snowflake_at(created_ms, worker=2, increment=index & 0xFFF)
        counter = iter(range(1, 4096))

        def child(offset_days: int) -> int:
            return snowflake_at(created_ms + offset_days * _DAY_MS, 2, 1, next(counter))

        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {index + 1}"
        mod_role, member_role = child(1), child(1)
        roles = [
            _role(gid, "@everyone", 0, EVERYONE_PERMISSIONS),
            _role(member_role, "Members", 1, EVERYONE_PERMISSIONS, 0x3498DB),
            _role(mod_role, "Moderators", 2, MODERATOR_PERMISSIONS, 0x2ECC71),
        ]
        category = child(1)
        text_ids = [child(1), child(2), child(3)]
        channels = [
            _channel(category, "Text Channels", 4, 0, None),
            _channel(text_ids[0], "general", 0, 0, category),
            _channel(text_ids[1], "random", 0, 1, category),
            _channel(text_ids[2], "bots", 0, 2, category),
            _channel(child(3), "Lounge", 2, 0, category),
        ]
        users = []
        members = []
        for n in range(rng.randint(6, 12)):
            uid = snowflake_at(created_ms - rng.randint(30, 300) * _DAY_MS, 1, 0, n)
            user = public_user(uid, f"{rng.choice(_NAMES)}{rng.randint(1, 999)}")
            roles_of = [str(member_role)] + ([str(mod_role)] if n == 0 else [])
            m = member(user, roles_of, created_ms + rng.randint(1, 300) * _DAY_MS)
            members.append(m)
            users.append((uid, user, m))
        emojis = [
            {
                "id": str(child(5)),
                "name": "birb",
                "roles": [],
                "require_colons": True,
                "managed": False,
                "animated": False,
                "available": True,
            }
        ]
        return Guild(
            id=gid,
            name=name,
            owner_id=users[0][0],
            created_ms=created_ms,
            roles=roles,
            channels=channels,
            text_channel_ids=text_ids,
            members=members,
            member_role_id=member_role,
            emojis=emojis,
            users=users,
        )

    def guilds_for_shard(self, shard_id: int, num_shards: int) -> list[Guild]:
        return [g for g in self.guilds if (g.id >> 22) % num_shards == shard_id]

    def guild_create(
        self, guild: Guild, bot: dict[str, Any], *, large_threshold: int = 50
    ) -> dict[str, Any]:
        """GUILD_CREATE's `d`: the guild object plus the gateway-only fields."""
        bot_member = member(bot, [], guild.created_ms + _DAY_MS)
        members = [*guild.members, bot_member]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": guild.roles,
            "emojis": guild.emojis,
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(guild.text_channel_ids[0]),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw": False,
            "nsfw_level": 0,
            "hub_type": None,
            "incidents_data": None,
            "latest_onboarding_question_id": None,
            "home_header": None,
            "inventory_settings": None,
            "version": guild.created_ms,
            "lazy": True,
            # Gateway-only fields of GUILD_CREATE.
            "joined_at": iso(guild.created_ms + _DAY_MS),
            "large": len(members) > large_threshold,
            "unavailable": False,
            "member_count": len(members),
            "voice_states": [],
            "members": members,
            "channels": guild.channels,
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "application_command_counts": {},
        }
