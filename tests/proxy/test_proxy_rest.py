"""REST through the proxy: the gateway URL rewritten, everything else as it came."""

from __future__ import annotations

import gzip
import socket

import aiohttp
import orjson
from aiohttp import web
from conftest import running_emulator
from proxy_harness import TOKEN, no_token, running_proxy, running_upstream

AUTH = {"Authorization": f"Bot {TOKEN}"}


async def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(url, headers=headers) as answer,
    ):
        return answer.status, dict(answer.headers), await answer.read()


async def test_gateway_bot_points_at_the_proxy_and_keeps_the_rest() -> None:
    async with running_emulator() as emulator, running_proxy(emulator.rest_url) as (proxy, out):
        assert proxy.rest_url.endswith("/api/v10")
        status, _, direct = await get(emulator.rest_url + "/gateway/bot", **AUTH)
        assert status == 200
        status, headers, proxied = await get(proxy.rest_url + "/gateway/bot", **AUTH)
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        want, got = orjson.loads(direct), orjson.loads(proxied)
        assert got["url"] == proxy.gateway_url != want["url"]
        assert {**got, "url": want["url"]} == want
        status, _, body = await get(proxy.rest_url + "/gateway")  # no token needed
        assert status == 200 and orjson.loads(body) == {"url": proxy.gateway_url}
        # Unknown routes and refusals come back as the upstream words them.
        status, _, body = await get(proxy.rest_url + "/gateway/bot")
        assert status == 401 and orjson.loads(body)["message"] == "401: Unauthorized"
    assert [(c.method, c.route, c.status) for c in out.calls] == [
        ("GET", "/gateway/bot", 200),
        ("GET", "/gateway", 200),
        ("GET", "/gateway/bot", 401),
    ]
    no_token(out.text())


async def test_a_request_with_a_body_goes_and_comes_back_unchanged() -> None:
    body = orjson.dumps({"content": "hello \u00e9", "tts": False, "nonce": "1"})
    async with running_upstream() as upstream, running_proxy(upstream.api_url) as (proxy, out):
        path = "/api/v10/channels/123/messages?x=1&y=%20z"
        sent = {
            **AUTH,
            "Content-Type": "application/json",
            "X-Audit-Log-Reason": "because",
            "User-Agent": "DiscordBot (https://example.invalid, 1.0)",
        }
        async with aiohttp.ClientSession() as session:
            direct_answer = await session.post(upstream.api_url[: -len("/api/v10")] + path,
                                               data=body, headers=sent)  # fmt: skip
            direct = (direct_answer.status, direct_answer.reason, await direct_answer.read(),
                      dict(direct_answer.headers))  # fmt: skip
            port = proxy.port
            async with session.post(
                f"http://127.0.0.1:{port}{path}",
                data=body,
                headers={**sent, "Connection": "keep-alive, X-Hop", "X-Hop": "1"},
            ) as answer:
                got = (answer.status, answer.reason, await answer.read(), dict(answer.headers))
    assert got[:3] == direct[:3] == (201, "Created", b'{"echo":' + str(len(body)).encode()
                                     + b',"method":"POST"}')  # fmt: skip
    for name in ("X-RateLimit-Bucket", "X-RateLimit-Remaining", "X-RateLimit-Limit",
                 "X-RateLimit-Reset-After", "Content-Type"):  # fmt: skip
        assert got[3][name] == direct[3][name]
    first, second = upstream.received
    assert (second.method, second.path_qs, second.body) == (first.method, first.path_qs, body)
    seen = dict(second.headers)
    assert seen["Authorization"] == f"Bot {TOKEN}"
    assert seen["X-Audit-Log-Reason"] == "because"
    assert seen["User-Agent"] == sent["User-Agent"]
    assert seen["Host"] == f"127.0.0.1:{upstream.port}"
    assert "X-Hop" not in seen  # named in Connection: one hop's
    (call,) = out.calls
    assert (call.method, call.route, call.status) == ("POST", "/channels/123/messages", 201)
    assert (call.bucket, call.remaining) == ("abcd1234", "4")
    assert "bucket abcd1234 remaining 4" in call.line()
    no_token(out.text())


async def test_nothing_is_added_and_compressed_answers_stay_compressed() -> None:
    packed = gzip.compress(b'{"id":"1"}')

    async def handler(request: web.Request) -> web.Response:
        names = sorted(k for k in request.headers if k not in ("Host", "Content-Length"))
        return web.Response(
            body=packed,
            headers={"Content-Encoding": "gzip", "X-Seen": ",".join(names)},
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v10"
    try:
        async with running_proxy(upstream) as (proxy, _):
            reader, writer = await _raw_get(proxy.port, "/api/v10/users/@me")
            raw = await reader.read()
            writer.close()
    finally:
        await runner.cleanup()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert payload == packed
    assert b"Content-Encoding: gzip" in head
    assert b"X-Seen: Authorization\r\n" in head  # no User-Agent, Accept... of aiohttp's own


async def _raw_get(port: int, path: str) -> tuple[object, object]:
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bot {TOKEN}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    return reader, writer


async def test_an_unreachable_upstream_is_a_502_and_one_line() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with running_proxy(f"http://127.0.0.1:{port}/api/v10") as (proxy, out):
        status, _, body = await get(proxy.rest_url + "/users/@me", **AUTH)
        assert status == 502 and orjson.loads(body)["code"] == 0
        status, _, _ = await get(proxy.rest_url.replace("/api/v10", "/elsewhere"))
        assert status == 404
    (line,) = out.failures
    assert line.startswith(f"upstream http://127.0.0.1:{port} unreachable: "), line
    assert [c.status for c in out.calls] == [502]
    no_token(out.text())


def test_paths_map_onto_the_upstream_as_the_bot_wrote_them() -> None:
    import pytest

    from birbctl.errors import ConfigError
    from birbctl.proxy.rest import Upstream

    discord = Upstream.parse("https://discord.com/api/v10")
    assert discord.prefix == "/api/v10"
    assert str(discord.url_for("/api/v10/channels/1/messages", "a=%20b")) == (
        "https://discord.com/api/v10/channels/1/messages?a=%20b"
    )
    assert str(discord.url_for("/api/v9/gateway", "")) == "https://discord.com/api/v9/gateway"
    assert discord.route("/api/v10/gateway/bot/") == "/gateway/bot"
    assert discord.route("/api/users/@me") == "/users/@me"
    assert discord.route("/api/v9/users/@me") == "/users/@me"
    assert discord.is_rest_path("/api") and not discord.is_rest_path("/apiary")
    mounted = Upstream.parse("http://127.0.0.1:8080/discord/api/v10/")
    assert mounted.is_rest_path("/discord/api/v10/users/@me")
    assert str(mounted.url_for("/discord/api/v10/users/@me", "")) == (
        "http://127.0.0.1:8080/discord/api/v10/users/@me"
    )
    assert str(mounted.url_for("/api/v9/users/@me", "")) == (
        "http://127.0.0.1:8080/discord/api/v9/users/@me"
    )
    with pytest.raises(ConfigError, match="--upstream must be"):
        Upstream.parse("discord.com/api/v10")


async def test_a_post_to_the_emulator_comes_back_with_its_rate_limits() -> None:
    async with (
        running_emulator(seed=7) as emulator,
        running_proxy(emulator.rest_url) as (proxy, out),
    ):
        channel = next(
            c["id"] for g in emulator.ctx.world.guilds for c in g.channels if c["type"] == 0
        )
        url = f"{proxy.rest_url}/channels/{channel}/messages"
        answers = []
        async with aiohttp.ClientSession() as session:
            for n in range(6):
                body = orjson.dumps({"content": f"hello {n}", "nonce": str(n)})
                headers = {**AUTH, "Content-Type": "application/json"}
                async with session.post(url, data=body, headers=headers) as answer:
                    answers.append((answer.status, dict(answer.headers), await answer.json()))
    for n, (status, headers, message) in enumerate(answers[:5]):
        assert status == 200
        assert (message["content"], message["nonce"]) == (f"hello {n}", str(n))
        assert headers["X-RateLimit-Remaining"] == str(4 - n)
    status, headers, refusal = answers[5]
    assert status == 429 and "Retry-After" in headers and refusal["global"] is False
    bucket = answers[0][1]["X-RateLimit-Bucket"]
    assert [(c.status, c.bucket, c.remaining) for c in out.calls] == [
        *((200, bucket, str(4 - n)) for n in range(5)),
        (429, bucket, "0"),
    ]
    assert out.calls[0].route == f"/channels/{channel}/messages"
    no_token(out.text())


async def test_a_webhook_token_in_the_path_goes_upstream_but_never_shows() -> None:
    secret = "wHkSeCrEt-tOkEn_0123456789abcdef"
    async with running_upstream() as upstream, running_proxy(upstream.api_url) as (proxy, out):
        path = f"/api/v10/webhooks/223704706495545344/{secret}/messages/@original"
        async with (
            aiohttp.ClientSession() as session,
            session.patch(f"http://127.0.0.1:{proxy.port}{path}", data=b"{}") as answer,
        ):
            assert answer.status == 201
    [received] = upstream.received
    assert received.path_qs == path  # forwarded as the bot wrote it
    [call] = out.calls
    assert call.route == "/webhooks/223704706495545344/***/messages/@original"
    assert secret not in out.text()
