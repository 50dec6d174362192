"""Which tokens the emulator accepts. It never prints, logs or echoes one."""

from __future__ import annotations

import hmac
import re

_BOT_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def strip_bot_prefix(token: str) -> str:
    return token[4:] if token.startswith("Bot ") else token


def looks_like_bot_token(token: str) -> bool:
    """Three dot-separated base64url parts, as Discord's bot tokens are."""
    return _BOT_TOKEN.fullmatch(strip_bot_prefix(token)) is not None


class TokenPolicy:
    """Any bot-shaped token, or only the configured ones (compared in constant time)."""

    __slots__ = ("_accepted",)

    def __init__(self, accepted: frozenset[str] | None = None) -> None:
        self._accepted = (
            None if accepted is None else tuple(strip_bot_prefix(t).encode() for t in accepted)
        )

    def accepts(self, token: object) -> bool:
        if not isinstance(token, str) or not token:
            return False
        bare = strip_bot_prefix(token)
        if self._accepted is None:
            return looks_like_bot_token(bare)
        raw = bare.encode()
        # Compare against all of them, so timing does not say which one nearly matched.
        return sum(hmac.compare_digest(raw, t) for t in self._accepted) > 0

    def accepts_header(self, authorization: str | None) -> bool:
        """REST: `Authorization: Bot <token>` (a bare token is accepted too)."""
        return authorization is not None and self.accepts(authorization.strip())

    def __repr__(self) -> str:  # never show the tokens
        count = "any bot token" if self._accepted is None else f"{len(self._accepted)} token(s)"
        return f"TokenPolicy({count})"
