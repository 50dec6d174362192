"""What the proxy remembers per gateway session: the proxy URLs that stand for upstream
resume URLs, and the shard each session belongs to.

READY names the gateway a session must resume on (`resume_gateway_url`). The bot is
given a proxy URL instead, `ws://HOST:PORT/resume/<key>`, so its RESUME comes back
through the proxy, which then opens the real resume URL. The key is a path segment, not
a query parameter: bots put their own query (`?v=10&encoding=json...`) on the URL and
some replace whatever query it had. The key is random, so one bot cannot aim another
bot's connection somewhere by guessing, and holds nothing about the upstream.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from urllib.parse import urlsplit

#: Where resume keys live on the proxy's port; every other path is a fresh connection.
RESUME_PREFIX = "/resume/"
#: Distinct resume URLs remembered. Discord hands out a few per region, and the same
#: real URL gets the same key again, so this is only reached by a very long run.
DEFAULT_LIMIT = 1024


class ResumeRoutes:
    """Real resume URL <-> opaque key, bounded (the least recently used goes first)."""

    def __init__(self, base: str = "", *, limit: int = DEFAULT_LIMIT) -> None:
        """`base` is the proxy's own `ws://HOST:PORT`, known once it listens; until then
        (and in tests) it may be set later through the attribute."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.base = base
        self.limit = limit
        self._by_key: OrderedDict[str, str] = OrderedDict()
        self._by_url: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def register(self, real_url: str) -> str:
        """The proxy URL to give the bot in place of `real_url`."""
        key = self._by_url.get(real_url)
        if key is None:
            key = secrets.token_urlsafe(16)
            self._by_key[key] = real_url
            self._by_url[real_url] = key
            while len(self._by_key) > self.limit:
                _, dropped = self._by_key.popitem(last=False)
                del self._by_url[dropped]
        else:
            self._by_key.move_to_end(key)
        return f"{self.base.rstrip('/')}{RESUME_PREFIX}{key}"

    def lookup(self, path: str) -> str | None:
        """The real resume URL a request path (or whole URL) stands for, or None when the
        path is no resume path or its key is unknown (forgotten, or never handed out).
        The bot's own query and a trailing slash are ignored."""
        path = urlsplit(path).path if "://" in path else path.split("?", 1)[0]
        if not path.startswith(RESUME_PREFIX):
            return None
        key = path[len(RESUME_PREFIX) :].strip("/")
        real = self._by_key.get(key)
        if real is not None:
            self._by_key.move_to_end(key)
        return real


def is_resume_path(path: str) -> bool:
    """Whether the bot asked for a resume URL (known or not) rather than a fresh one."""
    return path.split("?", 1)[0].startswith(RESUME_PREFIX)


#: Gateway sessions whose shard is remembered (the least recently used goes first).
SESSIONS_REMEMBERED = 4096


class SessionShards:
    """The shard of each gateway session, from the IDENTIFY of the connection that got
    its READY: a resumed connection sends no IDENTIFY, and is labelled from here."""

    def __init__(self, *, limit: int = SESSIONS_REMEMBERED) -> None:
        self.limit = limit
        self._shards: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def remember(self, session_id: str, shard: tuple[int, int]) -> None:
        self._shards[session_id] = shard
        self._shards.move_to_end(session_id)
        while len(self._shards) > self.limit:
            self._shards.popitem(last=False)

    def lookup(self, session_id: str) -> tuple[int, int] | None:
        shard = self._shards.get(session_id)
        if shard is not None:
            self._shards.move_to_end(session_id)
        return shard
