"""The one REST call a gateway client needs: GET /gateway/bot (the URL to connect to,
the recommended shard count and the identify limits)."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from birbctl import __version__
from birbctl.errors import BirbError

USER_AGENT = f"DiscordBot (https://github.com/birbctl/birbctl, {__version__})"


class RestError(BirbError):
    """The REST API refused or failed; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class SessionStartLimit:
    total: int
    remaining: int
    reset_after: int  # ms
    max_concurrency: int


@dataclass(frozen=True, slots=True)
class GatewayBot:
    url: str
    shards: int
    session_start_limit: SessionStartLimit

    @classmethod
    def from_json(cls, body: Any) -> GatewayBot:
        try:
            limit = body["session_start_limit"]
            return cls(
                url=str(body["url"]),
                shards=int(body["shards"]),
                session_start_limit=SessionStartLimit(
                    total=int(limit["total"]),
                    remaining=int(limit["remaining"]),
                    reset_after=int(limit["reset_after"]),
                    max_concurrency=int(limit["max_concurrency"]),
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RestError(f"GET /gateway/bot: unexpected answer ({exc})") from None


def _get(url: str, token: str, timeout: float, context: ssl.SSLContext | None) -> Any:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bot {token}", "User-Agent": USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read(1 << 20))
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise RestError(f"GET {url}: 401 Unauthorized: check the token") from None
        raise RestError(f"GET {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RestError(f"GET {url}: {reason}") from None
    except ValueError:
        raise RestError(f"GET {url}: the answer is not JSON") from None


async def get_gateway_bot(
    api_url: str, token: str, *, timeout: float = 15.0, context: ssl.SSLContext | None = None
) -> GatewayBot:
    url = api_url.rstrip("/") + "/gateway/bot"
    body = await asyncio.to_thread(_get, url, token, timeout, context)
    return GatewayBot.from_json(body)
