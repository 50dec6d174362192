"""An https/wss upstream with a self-signed certificate: trusted with --upstream-ca,
refused without it (one clear line for the user, 502 for the bot)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from proxy_harness import (
    HELLO,
    TOKEN,
    no_token,
    running_proxy,
    running_upstream,
    self_signed,
    server_context,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

AUTH = {"Authorization": f"Bot {TOKEN}"}


async def test_a_trusted_ca_lets_rest_and_the_gateway_through(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with (
        running_upstream(server_context(cert, key)) as upstream,
        running_proxy(upstream.api_url, upstream_ca=str(cert)) as (proxy, out),
    ):
        assert upstream.api_url.startswith("https://")
        async with (
            aiohttp.ClientSession() as session,
            session.get(proxy.rest_url + "/users/@me", headers=AUTH) as answer,
        ):
            assert answer.status == 201
            assert answer.headers["X-RateLimit-Bucket"] == "abcd1234"
        # The gateway is asked over https and opened over wss.
        async with connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None) as ws:
            assert await ws.recv() == HELLO
    assert out.failures == []
    assert f"-> wss://127.0.0.1:{upstream.port}" in out.notes[0]
    no_token(out.text())


async def test_an_untrusted_certificate_is_refused_with_one_line(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with (
        running_upstream(server_context(cert, key)) as upstream,
        running_proxy(upstream.api_url) as (proxy, out),
    ):
        async with (
            aiohttp.ClientSession() as session,
            session.get(proxy.rest_url + "/users/@me", headers=AUTH) as answer,
        ):
            assert answer.status == 502
        with pytest.raises(InvalidStatus) as refused:
            await connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None)
        assert refused.value.response.status_code == 502
        assert upstream.received == []  # nothing was sent over the refused connection
    rest, gateway = out.failures
    origin = f"https://127.0.0.1:{upstream.port}"
    assert rest == (
        f"upstream {origin}: certificate refused (self-signed certificate); "
        "pass --upstream-ca FILE to trust its CA"
    )
    assert gateway == f"bot #1: {rest}"
    no_token(out.text())
