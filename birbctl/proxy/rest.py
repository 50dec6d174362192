"""REST through the proxy: every request forwarded to the upstream API as it came, every
answer returned as it came, but for the gateway URL in GET /gateway and /gateway/bot,
which points back at the proxy so the bot's websocket comes through it too.

The client side is one aiohttp session per proxy (pooled connections to the upstream).
It sends what the bot sent: no User-Agent, Accept or Accept-Encoding of its own, bodies
and Content-Encoding untouched (no decompression on the way back).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from birbctl.errors import ConfigError

#: Headers that describe one HTTP hop, not the message (RFC 9110 7.6.1), and Host, which
#: names the proxy on the way in and the upstream on the way out. Content-Length is
#: counted again by aiohttp from the same bytes.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
#: Headers aiohttp's client adds when the caller gives none; the bot's request says
#: whether it had them.
_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
#: The largest request body read from a bot (an attachment upload); aiohttp answers 413
#: past it. Discord's own upload limit for bots is below this.
MAX_REQUEST_BODY = 64 * 1024 * 1024
#: The largest GET /gateway(/bot) answer read to rewrite (Discord's is a few hundred bytes).
MAX_GATEWAY_BODY = 1024 * 1024
GATEWAY_ROUTES = ("/gateway", "/gateway/bot")


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the proxy forwards: the API base the bot would otherwise use."""

    api_url: URL  # e.g. https://discord.com/api/v10

    @classmethod
    def parse(cls, text: str) -> Upstream:
        url = URL(text.strip())
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"--upstream must be an http(s):// URL with a host, got {text!r}")
        return cls(url.with_query(None).with_fragment(None))

    @property
    def prefix(self) -> str:
        """The API path the proxy serves REST under (the upstream's own, e.g. /api/v10)."""
        return self.api_url.path.rstrip("/")

    @property
    def origin(self) -> str:
        return str(self.api_url.origin())

    def is_rest_path(self, path: str) -> bool:
        """REST is the upstream's API path and anything under /api (other versions)."""
        return _under(path, self.prefix) or _under(path, "/api")

    def url_for(self, path: str, query_string: str) -> URL:
        """The upstream URL for a request to the proxy at `path?query_string` (both as
        the bot encoded them). Under the upstream's API path: the same path. Under /api
        otherwise (another API version): that path where the upstream's /api is, so an
        API mounted below a path of its own is still reached."""
        if _under(path, self.prefix):
            target = path
        else:
            mount, found, _ = self.prefix.rpartition("/api")
            target = (mount if found else self.prefix) + path
        raw = target + (f"?{query_string}" if query_string else "")
        return URL(self.origin + raw, encoded=True)

    def route(self, path: str) -> str:
        """The request's path below the API version, e.g. /gateway/bot, /channels/1/messages."""
        for prefix in (self.prefix, "/api"):
            if prefix and _under(path, prefix):
                rest = path[len(prefix) :]
                if prefix == "/api" and rest.startswith("/v"):
                    _, _, rest = rest[1:].partition("/")
                    rest = "/" + rest
                return rest.rstrip("/") or "/"
        return path


#: Routes whose segment after `<name>/<id>/` is a secret: a webhook's or an
#: interaction's token (Discord's REST puts them in the path).
_TOKEN_AFTER = frozenset({"webhooks", "interactions"})
HIDDEN = "***"


def without_tokens(route: str) -> str:
    """The route as the proxy shows it: a webhook or interaction token is `***`."""
    parts = route.split("/")
    for i in range(2, len(parts)):
        if parts[i - 2] in _TOKEN_AFTER and parts[i - 1].isdigit():
            parts[i] = HIDDEN
    return "/".join(parts)


def _under(path: str, prefix: str) -> bool:
    return bool(prefix) and (path == prefix or path.startswith(prefix + "/"))


def upstream_ssl(cafile: str | None) -> ssl.SSLContext:
    """The system's CAs, and the one --upstream-ca names (a local upstream's own)."""
    context = ssl.create_default_context()
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ConfigError(
                f"--upstream-ca {cafile}: cannot load a certificate ({reason})"
            ) from None
    return context


def describe_failure(exc: BaseException, target: str) -> str:
    """One line saying why the upstream could not be reached, and what to do about it."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        why = getattr(error, "verify_message", None) or str(error)
        return (
            f"upstream {target}: certificate refused ({why}); pass --upstream-ca FILE "
            "to trust its CA"
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"upstream {target}: TLS failed ({exc})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        # asyncio words a refused connection "Connect call failed (address)"; the errno
        # says it in one word the user knows.
        why = os.strerror(error.errno) if error.errno else (error.strerror or str(error))
        return f"upstream {target} unreachable: {why}"
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"upstream {target} refused the websocket: HTTP {exc.status} {exc.message}"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return f"upstream {target}: timed out"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"upstream {target}: HTTP {exc.status} {exc.message}"
    return f"upstream {target}: {exc.__class__.__name__} {exc}".rstrip()


def forward_headers(headers: Any) -> tuple[CIMultiDict[str], frozenset[str]]:
    """The bot's headers for the upstream (end-to-end ones, in order and repeated as they
    came), and which of aiohttp's own default headers to leave out."""
    kept = end_to_end(headers)
    skip = frozenset(name for name in _AUTO_HEADERS if name not in kept)
    return kept, skip


def end_to_end(headers: Any) -> CIMultiDict[str]:
    """`headers` without the hop-by-hop ones, nor those their Connection header names."""
    named = {
        token.strip().lower()
        for value in headers.getall("Connection", [])
        for token in value.split(",")
    }
    return CIMultiDict(
        (key, value)
        for key, value in headers.items()
        if key.lower() not in HOP_BY_HOP and key.lower() not in named
    )


def error_answer(status: int, message: str) -> web.Response:
    """An error as Discord's API words one, for what the proxy itself could not do."""
    return web.json_response({"message": message, "code": 0}, status=status)


@dataclass(frozen=True, slots=True)
class RestCall:
    """One forwarded request, as the proxy's output line shows it (no header values but
    the rate-limit ones: the Authorization header never leaves the request)."""

    method: str
    route: str
    status: int  # the upstream's, or the proxy's own 502/504 when there was no answer
    latency_ms: float
    bucket: str | None
    remaining: str | None

    def line(self) -> str:
        limit = ""
        if self.bucket is not None or self.remaining is not None:
            limit = f"  bucket {self.bucket or '-'} remaining {self.remaining or '-'}"
        return f"{self.method} {self.route} {self.status} {self.latency_ms:.1f} ms{limit}"


class RestForwarder:
    """The REST half of the proxy: forwards, rewrites the gateway URL, remembers it."""

    def __init__(
        self,
        upstream: Upstream,
        session: aiohttp.ClientSession,
        *,
        gateway_base: Callable[[], str],
        on_call: Callable[[RestCall], None],
        on_failure: Callable[[str], None],
    ) -> None:
        """`gateway_base` is the proxy's own ws://HOST:PORT (known once it listens)."""
        self.upstream = upstream
        self.session = session
        self._gateway_base = gateway_base
        self._on_call = on_call
        self._on_failure = on_failure
        self._gateway_url: str | None = None
        self._gateway_lock = asyncio.Lock()

    # --- the upstream gateway URL the bot's connections go to ---------------------------

    async def gateway_url(self) -> str:
        """The upstream's gateway URL: the one its last /gateway(/bot) answer named, or
        asked now with GET /gateway (which takes no token). Raises aiohttp's errors or
        TimeoutError when the upstream cannot say."""
        async with self._gateway_lock:
            if self._gateway_url is None:
                url = self.upstream.url_for(self.upstream.prefix + "/gateway", "")
                async with self.session.get(url, skip_auto_headers=("User-Agent",)) as answer:
                    answer.raise_for_status()
                    body = orjson.loads(await answer.content.read(MAX_GATEWAY_BODY))
                self._gateway_url = str(body["url"])
            return self._gateway_url

    def forget_gateway_url(self) -> None:
        """Ask again next time (the upstream refused a connection to the one we had)."""
        self._gateway_url = None

    # --- one request ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route = self.upstream.route(request.path)
        rewrite = request.method == "GET" and route in GATEWAY_ROUTES
        headers, skip = forward_headers(request.headers)
        if rewrite:
            # The answer is read and written again: ask for it uncompressed.
            headers.popall("Accept-Encoding", None)
            skip |= {"Accept-Encoding"}
        url = self.upstream.url_for(request.rel_url.raw_path, request.rel_url.raw_query_string)
        body = await request.read() if request.can_read_body else None
        started = time.perf_counter()
        try:
            async with self.session.request(
                request.method,
                url,
                headers=headers,
                skip_auto_headers=skip,
                data=body,
                allow_redirects=False,
            ) as answer:
                payload = await answer.read()
                status, reason = answer.status, answer.reason
                out_headers = end_to_end(answer.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = 504 if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError) else 502
            self._on_failure(describe_failure(exc, self.upstream.origin))
            self._report(request.method, route, status, started, None)
            return error_answer(status, f"{status}: the proxy could not reach the upstream")
        if rewrite and status == 200:
            payload = self._rewritten(payload)
        self._report(request.method, route, status, started, out_headers)
        return web.Response(body=payload, status=status, reason=reason, headers=out_headers)

    def _rewritten(self, payload: bytes) -> bytes:
        """The gateway answer with its URL pointing at the proxy; the real one kept."""
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            return payload
        self._gateway_url = body["url"]
        body["url"] = self._gateway_base()
        return orjson.dumps(body)

    def _report(
        self, method: str, route: str, status: int, started: float, headers: Any | None
    ) -> None:
        latency = (time.perf_counter() - started) * 1000
        get = headers.get if headers is not None else (lambda _key: None)
        self._on_call(
            RestCall(
                method=method,
                route=without_tokens(route),
                status=status,
                latency_ms=latency,
                bucket=get("X-RateLimit-Bucket"),
                remaining=get("X-RateLimit-Remaining"),
            )
        )
