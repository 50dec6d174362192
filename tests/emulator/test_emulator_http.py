"""The emulator's HTTP side on aiohttp: a REST POST with a JSON body answered as Discord
would (message object, error shapes, rate-limit headers), the admin endpoint's JSON
body, and the websocket handshake offering no permessage-deflate."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from emulator_harness import BOT_ID, TOKEN, gateway, running

from birbctl.emulator.rest import MESSAGE_LIMIT, RestState, handle_rest
from birbctl.emulator.server import EmulatorServer
from birbctl.emulator.snowflake import snowflake_ms

AUTH = {"Authorization": f"Bot {TOKEN}"}
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Reset-After",
    "X-RateLimit-Bucket",
)


def text_channel(server: EmulatorServer) -> int:
    return server.ctx.world.guilds[0].text_channel_ids[0]


async def post(
    server: EmulatorServer, path: str, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.rest_url}{path}",
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=aiohttp.ClientTimeout(total=5),
        ) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


async def test_post_message_answers_a_message_from_the_world() -> None:
    async with running(guilds=1) as server:
        channel = text_channel(server)
        status, body, headers = await post(
            server, f"/channels/{channel}/messages", b'{"content": "hello birb"}', AUTH
        )
        assert status == 200, body
        assert body["channel_id"] == str(channel)
        assert body["content"] == "hello birb"
        assert body["author"]["id"] == BOT_ID and body["author"]["bot"] is True
        assert body["type"] == 0 and body["edited_timestamp"] is None
        # A snowflake minted now, and the timestamp says the same instant.
        assert abs(snowflake_ms(int(body["id"])) / 1000 - time.time()) < 60
        assert body["timestamp"].endswith("+00:00")
        for name in RATE_HEADERS:
            assert name in headers, name
        assert headers["X-RateLimit-Limit"] == str(MESSAGE_LIMIT)
        assert headers["X-RateLimit-Remaining"] == str(MESSAGE_LIMIT - 1)
        assert float(headers["X-RateLimit-Reset-After"]) <= 5.0
        assert headers["Server"] == "birbctl-emulator"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"{not json", 50109),
        (b"[1, 2]", 50109),
        (b"{}", 50006),
        (b'{"content": ""}', 50006),
        (b'{"content": 5}', 50035),
        (b'{"content": "' + b"x" * 2001 + b'"}', 50035),
    ],
)
async def test_post_message_refuses_a_bad_body_as_discord_does(data: bytes, code: int) -> None:
    async with running(guilds=1) as server:
        path = f"/channels/{text_channel(server)}/messages"
        status, body, headers = await post(server, path, data, AUTH)
        assert status == 400
        assert body["code"] == code and isinstance(body["message"], str)
        assert "X-RateLimit-Bucket" in headers


async def test_post_message_needs_a_configured_token() -> None:
    async with running(guilds=1, tokens=frozenset({TOKEN})) as server:
        path = f"/channels/{text_channel(server)}/messages"
        for headers in ({}, {"Authorization": "Bot a.b.c"}):
            status, body, _ = await post(server, path, b'{"content": "x"}', headers)
            assert (status, body) == (401, {"message": "401: Unauthorized", "code": 0})
        status, _, _ = await post(server, path, b'{"content": "x"}', AUTH)
        assert status == 200


async def test_post_message_unknown_channel_and_rate_limit() -> None:
    async with running(guilds=1) as server:
        status, body, _ = await post(server, "/channels/12345/messages", b'{"content": "x"}', AUTH)
        assert (status, body["code"]) == (404, 10003)
        path = f"/channels/{text_channel(server)}/messages"
        answers = [await post(server, path, b'{"content": "x"}', AUTH) for _ in range(6)]
        assert [a[0] for a in answers] == [200] * MESSAGE_LIMIT + [429]
        assert [a[2]["X-RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
        status, body, headers = answers[-1]
        assert body["global"] is False and 0 < body["retry_after"] <= 5
        assert int(headers["Retry-After"]) >= 1


def test_handle_rest_is_sans_io() -> None:
    """Method and body in, status, body and headers out; clocks injected."""
    from birbctl.emulator.config import EmulatorConfig
    from birbctl.emulator.gateway import GatewayContext

    ctx = GatewayContext(EmulatorConfig(guilds=1, seed=3))
    channel = ctx.world.guilds[0].text_channel_ids[1]
    state = RestState(clock=lambda: 1_700_000_000.0)
    path = f"/api/v10/channels/{channel}/messages"
    answer = handle_rest(ctx, "POST", path, f"Bot {TOKEN}", 10.0, b'{"content": "a"}', state=state)
    assert answer.status == 200
    assert snowflake_ms(int(answer.body["id"])) == 1_700_000_000_000
    assert answer.body["timestamp"] == "2023-11-14T22:13:20.000000+00:00"
    assert answer.headers["X-RateLimit-Reset"] == "1700000005.000"
    later = handle_rest(ctx, "POST", path, f"Bot {TOKEN}", 12.5, b'{"content": "b"}', state=state)
    assert later.headers["X-RateLimit-Reset-After"] == "2.500"
    assert later.headers["X-RateLimit-Remaining"] == "3"
    assert handle_rest(ctx, "GET", path, f"Bot {TOKEN}", 0.0).status == 405
    assert handle_rest(ctx, "POST", "/api/v10/gateway", None, 0.0, b"{}").status == 405


async def test_admin_takes_a_json_body() -> None:
    async with running(guilds=1) as server, gateway(server) as client:
        await client.identify()
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.admin_url}/faults", json={"action": "reconnect"}) as response,
        ):
            assert response.status == 200
            assert (await response.json())["applied"]
        payload, _ = await client.recv_until(lambda p: p["op"] != 0)
        assert payload["op"] == 7
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.admin_url}/faults", data=b"[1]") as response,
        ):
            assert response.status == 400
            assert "JSON object" in (await response.json())["message"]


async def test_handshake_offers_no_compression_extension() -> None:
    """A client offering permessage-deflate gets none: Discord's gateway uses none."""
    async with running() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(
                b"GET /?v=10&encoding=json HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 101")
        assert b"sec-websocket-extensions" not in head.lower()
