"""Gateway intents: Discord's names, which are privileged, and the `--intents` parser."""

from __future__ import annotations

import difflib
import enum
import re

from birbctl.errors import ConfigError


class Intents(enum.IntFlag):
    """Gateway intents (API v10 docs, "List of Intents")."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25


#: Need a switch in the developer portal; passing them without it closes with 4014.
PRIVILEGED_INTENTS = Intents.GUILD_MEMBERS | Intents.GUILD_PRESENCES | Intents.MESSAGE_CONTENT

ALL_INTENTS = Intents(0)
for _flag in Intents:
    ALL_INTENTS |= _flag
del _flag

#: Everything that needs no portal switch: connects for any bot.
DEFAULT_INTENTS = ALL_INTENTS & ~PRIVILEGED_INTENTS

_KEYWORDS: dict[str, int] = {
    "ALL": int(ALL_INTENTS),
    "DEFAULT": int(DEFAULT_INTENTS),
    "PRIVILEGED": int(PRIVILEGED_INTENTS),
    "NONE": 0,
}

# Names older docs and libraries used for the same bits.
_ALIASES: dict[str, int] = {
    "GUILD_BANS": int(Intents.GUILD_MODERATION),
    "GUILD_EMOJIS_AND_STICKERS": int(Intents.GUILD_EXPRESSIONS),
    "GUILD_EMOJIS": int(Intents.GUILD_EXPRESSIONS),
}

_SEPARATORS = re.compile(r"[\s,|+]+")
_MAX_INTENTS = (1 << 53) - 1  # what a JSON number carries exactly


def parse_intents(spec: str | int) -> int:
    """Parse `GUILDS,GUILD_MESSAGES`, `513`, `0x201`, `all`, `default`, or a mix (a union).

    Names are case-insensitive and may use dashes; separators are commas, pipes, plus
    signs or spaces. Unknown names raise ConfigError with the closest known names.
    """
    if isinstance(spec, bool):
        raise ConfigError("intents must be a number or a list of intent names")
    if isinstance(spec, int):
        return _check_number(spec, str(spec))
    tokens = [t for t in _SEPARATORS.split(spec.strip()) if t]
    if not tokens:
        raise ConfigError(
            "intents are empty: pass names (GUILDS,GUILD_MESSAGES), a number, 'default' or 'all'"
        )
    value = 0
    for token in tokens:
        value |= _parse_token(token)
    return value


def _parse_token(token: str) -> int:
    if token[0].isdigit():
        try:
            number = int(token, 0)
        except ValueError:
            raise ConfigError(f"invalid intents number {token!r}") from None
        return _check_number(number, token)
    name = token.upper().replace("-", "_")
    if name in _KEYWORDS:
        return _KEYWORDS[name]
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return int(Intents[name])
    except KeyError:
        pass
    known = [*Intents.__members__, *_KEYWORDS]
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown intent {token!r}{hint}")


def _check_number(number: int, text: str) -> int:
    if not 0 <= number <= _MAX_INTENTS:
        raise ConfigError(f"intents {text} out of range")
    return number


def intent_names(value: int) -> list[str]:
    """Names of the known bits in `value`, low bit first; unknown bits as `1<<N`."""
    names = [flag.name for flag in Intents if flag.name and value & flag]
    unknown = value & ~int(ALL_INTENTS)
    names += [f"1<<{bit}" for bit in range(unknown.bit_length()) if unknown >> bit & 1]
    return names


def privileged_in(value: int) -> list[str]:
    """The privileged intents `value` asks for: what must be enabled in the portal."""
    return intent_names(value & int(PRIVILEGED_INTENTS))
