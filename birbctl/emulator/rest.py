"""The REST endpoints a client calls before it connects, under /api, /api/v9, /api/v10,
and one that takes a body: POST /channels/{id}/messages.

Sans-I/O like the gateway: a request's method, path, headers and body in, a status, a
JSON body and headers out; the clocks come in as arguments or injected callables.
Discord answers unknown routes with 404 {"message": "404: Not Found", "code": 0}.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from birbctl.emulator.gateway import APP_FLAGS_PRIVILEGED, GatewayContext
from birbctl.emulator.snowflake import SnowflakeFactory
from birbctl.emulator.world import bot_id_from_token, bot_user, iso

_PREFIX = re.compile(r"^/api(?:/v(\d+))?(/.*)$")
_CHANNEL_MESSAGES = re.compile(r"^/channels/(\d{1,20})/messages$")
#: Discord's limit on a message's content, in characters.
MAX_CONTENT = 2000
#: POST /channels/{id}/messages: 5 per 5 s per channel, as Discord answers it.
MESSAGE_LIMIT = 5
MESSAGE_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class RestResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return orjson.dumps(self.body)


def _error(status: int, message: str, code: int = 0) -> RestResponse:
    return RestResponse(status, {"message": f"{status}: {message}", "code": code})


def _json_error(status: int, code: int, message: str, **extra: Any) -> RestResponse:
    """Discord's JSON error codes (50006, 50035, 10003...) word the message without
    the status in front."""
    return RestResponse(status, {"message": message, "code": code, **extra})


def _form_error(field_name: str, code: str, message: str) -> RestResponse:
    """400 Invalid Form Body, with the failing field's errors nested as Discord does."""
    errors = {field_name: {"_errors": [{"code": code, "message": message}]}}
    return _json_error(400, 50035, "Invalid Form Body", errors=errors)


class _Window:
    __slots__ = ("count", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.count = 0


class RestState:
    """What REST remembers between requests: the ids it minted and the rate-limit
    windows. `clock` is the wall clock (snowflakes, timestamps, X-RateLimit-Reset);
    windows run on the `now` each request passes in."""

    __slots__ = ("_windows", "clock", "snowflakes")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.snowflakes = SnowflakeFactory(worker=3, clock=clock)
        self._windows: dict[str, _Window] = {}

    def take(self, bucket_key: str, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request against its bucket: whether it may go, and the headers
        Discord sends with the answer (Limit, Remaining, Reset, Reset-After, Bucket)."""
        window = self._windows.get(bucket_key)
        if window is None or now >= window.started + MESSAGE_WINDOW_S:
            if len(self._windows) >= 10_000:  # bound the map: forget the stale ones
                self._windows = {
                    k: w for k, w in self._windows.items() if now < w.started + MESSAGE_WINDOW_S
                }
            window = self._windows[bucket_key] = _Window(now)
        allowed = window.count < MESSAGE_LIMIT
        if allowed:
            window.count += 1
        reset_after = max(0.0, window.started + MESSAGE_WINDOW_S - now)
        # Discord's bucket is an opaque hash shared by the routes of one limit.
        bucket = hashlib.sha256(b"birbctl:POST /channels/{id}/messages").hexdigest()[:32]
        headers = {
            "X-RateLimit-Limit": str(MESSAGE_LIMIT),
            "X-RateLimit-Remaining": str(MESSAGE_LIMIT - window.count),
            "X-RateLimit-Reset": f"{math.ceil((self.clock() + reset_after) * 1000) / 1000:.3f}",
            "X-RateLimit-Reset-After": f"{math.ceil(reset_after * 1000) / 1000:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset_after)))
            headers["X-RateLimit-Scope"] = "user"
        return allowed, headers


def is_rest_path(path: str) -> bool:
    return _PREFIX.match(path.split("?", 1)[0]) is not None


def handle_rest(
    ctx: GatewayContext,
    method: str,
    path: str,
    authorization: str | None,
    now: float,
    body: bytes = b"",
    *,
    state: RestState | None = None,
) -> RestResponse:
    """`now` is the server's loop clock (session_start_limit, rate-limit windows);
    `state` carries what outlives one request (a fresh one when not given)."""
    match = _PREFIX.match(path.split("?", 1)[0])
    if match is None:
        return _error(404, "Not Found")
    route = match.group(2).rstrip("/") or "/"
    channel = _CHANNEL_MESSAGES.match(route)
    if channel is not None:
        if method != "POST":
            return _error(405, "Method Not Allowed")
        if not ctx.tokens.accepts_header(authorization):
            return _error(401, "Unauthorized")
        assert authorization is not None
        return create_message(
            ctx, state or RestState(), int(channel.group(1)), authorization, body, now
        )
    if method not in ("GET", "HEAD"):
        return _error(405, "Method Not Allowed")
    gateway_url = ctx.resume_url
    if route == "/gateway":
        # The one endpoint Discord serves without a token.
        return RestResponse(200, {"url": gateway_url})
    if route not in ("/gateway/bot", "/users/@me", "/oauth2/applications/@me"):
        return _error(404, "Not Found")
    if not ctx.tokens.accepts_header(authorization):
        return _error(401, "Unauthorized")
    assert authorization is not None
    user_id = bot_id_from_token(authorization.strip())
    if route == "/gateway/bot":
        return RestResponse(
            200,
            {
                "url": gateway_url,
                "shards": ctx.config.shards,
                "session_start_limit": ctx.records.session_start_limit(now),
            },
        )
    user = bot_user(user_id)
    recorded = ctx.replay.recording.user if ctx.replay is not None else None
    if recorded is not None:
        user |= recorded  # the bot of the replayed READY, as the gateway will say
    if route == "/users/@me":
        return RestResponse(200, user)
    return RestResponse(200, application(user, ctx.config.allow_privileged, len(ctx.world.guilds)))


def _the_bot(ctx: GatewayContext, authorization: str) -> dict[str, Any]:
    """The bot user the token names, or the replayed READY's bot."""
    user = bot_user(bot_id_from_token(authorization.strip()))
    recorded = ctx.replay.recording.user if ctx.replay is not None else None
    if recorded is not None:
        user |= recorded
    return user


def _channel_kind(ctx: GatewayContext, channel_id: int) -> int | None:
    """The world's channel type for `channel_id` (0 text), None when it has none. A
    replay's channels are the capture's, which the world does not hold: any goes."""
    if ctx.replay is not None:
        return 0
    for guild in ctx.world.guilds:
        for channel in guild.channels:
            if channel["id"] == str(channel_id):
                return int(channel["type"])
    return None


def create_message(
    ctx: GatewayContext,
    state: RestState,
    channel_id: int,
    authorization: str,
    body: bytes,
    now: float,
) -> RestResponse:
    """POST /channels/{id}/messages with a JSON body {"content": ...}: the message as
    Discord answers it, authored by the bot, with the rate-limit headers of its bucket."""
    kind = _channel_kind(ctx, channel_id)
    if kind is None:
        return _json_error(404, 10003, "Unknown Channel")
    allowed, headers = state.take(f"channel:{channel_id}", now)
    if not allowed:
        retry_after = float(headers["X-RateLimit-Reset-After"])
        body_429 = {"message": "You are being rate limited.", "retry_after": retry_after}
        return RestResponse(429, body_429 | {"global": False}, headers)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = _json_error(400, 50109, "The request body contains invalid JSON.")
        return RestResponse(answer.status, answer.body, headers)
    refused = _check_message(payload, kind)
    if refused is not None:
        return RestResponse(refused.status, refused.body, headers)
    assert isinstance(payload, dict)
    message_id = state.snowflakes()
    message = {
        "id": str(message_id),
        "type": 0,
        "channel_id": str(channel_id),
        "content": payload["content"],
        "author": {k: v for k, v in _the_bot(ctx, authorization).items() if k in _AUTHOR_KEYS},
        "timestamp": iso(int(state.clock() * 1000)),
        "edited_timestamp": None,
        "tts": bool(payload.get("tts", False)),
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "flags": 0,
        "components": [],
    }
    if isinstance(payload.get("nonce"), str | int):
        message["nonce"] = payload["nonce"]
    return RestResponse(200, message, headers)


_AUTHOR_KEYS = frozenset(
    ("id", "username", "discriminator", "global_name", "avatar", "bot", "public_flags", "flags")
)


def _check_message(payload: Any, kind: int) -> RestResponse | None:
    """Discord's answer to a message body it refuses, or None when it takes it."""
    if not isinstance(payload, dict):
        return _json_error(400, 50109, "The request body contains invalid JSON.")
    content = payload.get("content")
    if content is None or content == "":
        return _json_error(400, 50006, "Cannot send an empty message")
    if not isinstance(content, str):
        return _form_error("content", "BASE_TYPE_STRING", "Must be a string.")
    if len(content) > MAX_CONTENT:
        return _form_error(
            "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
        )
    if kind != 0:
        return _json_error(400, 50008, "Cannot send messages in a non-text channel")
    return None


def application(user: dict[str, Any], privileged: bool, guild_count: int) -> dict[str, Any]:
    """GET /oauth2/applications/@me: the bot's application (discord.py's AppInfo reads
    id, name, description, rpc_origins, bot_public, bot_require_code_grant, owner...)."""
    return {
        "id": user["id"],
        "name": user["username"],
        "icon": None,
        "description": "A local Discord gateway emulator (birbctl serve).",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": APP_FLAGS_PRIVILEGED if privileged else 0,
        "owner": {k: v for k, v in bot_user(1100000000000000002).items() if k != "bot"}
        | {"username": "birbctl-owner"},
        "team": None,
        "bot": user,
        "rpc_origins": [],
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "approximate_guild_count": guild_count,
        "integration_types_config": {"0": {}},
    }
