"""The REST endpoints a client calls before it connects, under /api, /api/v9, /api/v10.

Sans-I/O like the gateway: a request's method, path and headers in, a status and a JSON
body out. Discord answers unknown routes with 404 {"message": "404: Not Found", "code": 0}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from birbctl.emulator.gateway import APP_FLAGS_PRIVILEGED, GatewayContext
from birbctl.emulator.world import bot_id_from_token, bot_user

_PREFIX = re.compile(r"^/api(?:/v(\d+))?(/.*)$")


@dataclass(frozen=True, slots=True)
class RestResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return orjson.dumps(self.body)


def _error(status: int, message: str, code: int = 0) -> RestResponse:
    return RestResponse(status, {"message": f"{status}: {message}", "code": code})


def is_rest_path(path: str) -> bool:
    return _PREFIX.match(path.split("?", 1)[0]) is not None


def handle_rest(
    ctx: GatewayContext, method: str, path: str, authorization: str | None, now: float
) -> RestResponse:
    match = _PREFIX.match(path.split("?", 1)[0])
    if match is None:
        return _error(404, "Not Found")
    route = match.group(2).rstrip("/") or "/"
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
