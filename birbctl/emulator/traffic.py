"""Synthetic gateway traffic of realistic shapes (API docs' event objects), cheap to make.

Each event is built once and shared by every session of its shard (see frames.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from birbctl.emulator.frames import PreparedDispatch
from birbctl.emulator.snowflake import SnowflakeFactory, snowflake_ms
from birbctl.emulator.world import Guild, iso, member, public_user
from birbctl.protocol.intents import Intents

_LINES = (
    "hello there", "has anyone seen the new gateway docs?", "brb", "lgtm", "ship it",
    "why is my bot offline again", "resume worked this time", "tweet tweet",
    "who broke the build", "heartbeat acked in 42 ms", "it works on my machine",
)  # fmt: skip
_EMOJI = ("👍", "🐦", "🎉", "👀", "🔥")
_STATUSES = ("online", "idle", "dnd", "online")

# (event, weight): mostly messages, as a busy guild looks.
_MIX: tuple[tuple[str, int], ...] = (
    ("MESSAGE_CREATE", 50),
    ("TYPING_START", 20),
    ("MESSAGE_REACTION_ADD", 12),
    ("PRESENCE_UPDATE", 12),
    ("MESSAGE_UPDATE", 4),
    ("GUILD_MEMBER_ADD", 2),
)

INTENT_OF: dict[str, int] = {
    "MESSAGE_CREATE": int(Intents.GUILD_MESSAGES),
    "MESSAGE_UPDATE": int(Intents.GUILD_MESSAGES),
    "TYPING_START": int(Intents.GUILD_MESSAGE_TYPING),
    "MESSAGE_REACTION_ADD": int(Intents.GUILD_MESSAGE_REACTIONS),
    "PRESENCE_UPDATE": int(Intents.GUILD_PRESENCES),
    "GUILD_MEMBER_ADD": int(Intents.GUILD_MEMBERS),
}


class TrafficGenerator:
    """Makes the next synthetic event for a guild."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rng = random.Random(seed)
        self.clock = clock
        self.snowflakes = SnowflakeFactory(worker=3, clock=clock)
        names = [name for name, _ in _MIX]
        weights = [w for _, w in _MIX]
        # A precomputed bag makes picking an event type one randrange.
        self._bag = [n for n, w in zip(names, weights, strict=True) for _ in range(w)]
        self._last_message: dict[int, tuple[int, int, int]] = {}  # guild -> (msg, channel, author)

    def next_event(self, guild: Guild) -> PreparedDispatch:
        t = self._bag[self.rng.randrange(len(self._bag))]
        if t in ("MESSAGE_REACTION_ADD", "MESSAGE_UPDATE") and guild.id not in self._last_message:
            t = "MESSAGE_CREATE"
        d = getattr(self, "_" + t.lower())(guild)
        return PreparedDispatch(t, d, intent=INTENT_OF[t], synthetic=True)

    def _pick_user(self, guild: Guild) -> tuple[int, dict[str, Any], dict[str, Any]]:
        return guild.users[self.rng.randrange(len(guild.users))]

    def _message_create(self, guild: Guild) -> dict[str, Any]:
        rng = self.rng
        uid, user, m = self._pick_user(guild)
        channel = guild.text_channel_ids[rng.randrange(len(guild.text_channel_ids))]
        message_id = self.snowflakes()
        self._last_message[guild.id] = (message_id, channel, uid)
        partial = {k: v for k, v in m.items() if k != "user"}
        return {
            "id": str(message_id),
            "channel_id": str(channel),
            "guild_id": str(guild.id),
            "author": user,
            "member": partial,
            "content": _LINES[rng.randrange(len(_LINES))],
            "timestamp": iso(int(self.clock() * 1000)),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "mention_channels": [],
            "attachments": [],
            "embeds": [],
            "reactions": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
            "nonce": str(message_id),
        }

    def _message_update(self, guild: Guild) -> dict[str, Any]:
        message_id, channel, author = self._last_message[guild.id]
        user = next(u for i, u, _ in guild.users if i == author)
        return {
            "id": str(message_id),
            "channel_id": str(channel),
            "guild_id": str(guild.id),
            "author": user,
            "content": _LINES[self.rng.randrange(len(_LINES))] + " (edited)",
            "timestamp": iso(snowflake_ms(message_id)),
            "edited_timestamp": iso(int(self.clock() * 1000)),
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }

    def _typing_start(self, guild: Guild) -> dict[str, Any]:
        uid, _user, m = self._pick_user(guild)
        channel = guild.text_channel_ids[self.rng.randrange(len(guild.text_channel_ids))]
        return {
            "channel_id": str(channel),
            "guild_id": str(guild.id),
            "user_id": str(uid),
            "timestamp": int(self.clock()),
            "member": m,
        }

    def _message_reaction_add(self, guild: Guild) -> dict[str, Any]:
        message_id, channel, author = self._last_message[guild.id]
        uid, _user, m = self._pick_user(guild)
        return {
            "user_id": str(uid),
            "channel_id": str(channel),
            "message_id": str(message_id),
            "guild_id": str(guild.id),
            "member": m,
            "emoji": {"id": None, "name": _EMOJI[self.rng.randrange(len(_EMOJI))]},
            "message_author_id": str(author),
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }

    def _presence_update(self, guild: Guild) -> dict[str, Any]:
        uid, _user, _m = self._pick_user(guild)
        status = _STATUSES[self.rng.randrange(len(_STATUSES))]
        return {
            "user": {"id": str(uid)},
            "guild_id": str(guild.id),
            "status": status,
            "activities": [],
            "client_status": {"desktop": status},
        }

    def _guild_member_add(self, guild: Guild) -> dict[str, Any]:
        uid = self.snowflakes()
        user = public_user(uid, f"newbie{uid % 10000}")
        joined = member(user, [], int(self.clock() * 1000))
        return {**joined, "guild_id": str(guild.id)}
