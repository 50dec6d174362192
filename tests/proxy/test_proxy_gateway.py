"""The gateway through the proxy: birbctl's own client reaches READY in every encoding
and compression; close codes and dropped connections pass both ways; a RESUME goes to
the upstream's resume URL through the proxy's /resume/<key>."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import birbctl_async, running_emulator
from proxy_harness import FAST_HEARTBEATS, HELLO, TOKEN, no_token, running_proxy, running_upstream
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from birbctl.codec.message import decode_message
from birbctl.protocol.wire import Compression
from birbctl.transport.inflate import make_inflater

STEP = 5.0


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("json", "zlib-stream"),
        ("etf", "zlib-stream"),
        ("json", "zstd-stream"),
        ("etf", "zstd-stream"),
        ("etf", "none"),
    ],
)
async def test_birbctl_connect_reaches_ready_through_the_proxy(
    tmp_path: Path, encoding: str, compress: str
) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    async with (
        running_emulator(**FAST_HEARTBEATS, event_rate=20) as emulator,
        running_proxy(emulator.rest_url) as (proxy, out),
    ):
        code, stdout, stderr = await birbctl_async(
            env, "connect", "--api-url", proxy.rest_url, "--json", "--duration", "1.5",
            "--encoding", encoding, "--compress", compress,
        )  # fmt: skip
    assert code == 0, stderr.decode()
    assert b'"new":"ready"' in stdout.replace(b" ", b"")
    # Heartbeats were answered through the proxy, and events arrived.
    assert b'"events":0,' not in stdout.replace(b" ", b"")
    assert f'"url":"{proxy.gateway_url}/?v=10&encoding={encoding}'.encode() in stdout
    assert [c.route for c in out.calls] == ["/gateway/bot"]
    opened, closed = out.notes
    assert opened.startswith(f"bot #1 connected (new, {encoding}, {compress}) -> ws://")
    assert closed == "bot #1 shard 0/1 closed by bot 1000 (birbctl is stopping)"
    no_token(out.text(), stdout, stderr)


class Bot:
    """A bare websocket bot: birbctl's inflater and codec read what the proxy sends."""

    def __init__(self, ws: ClientConnection, compress: Compression) -> None:
        self.ws = ws
        self.inflate = make_inflater(compress).feed

    async def recv(self) -> Any:
        async with asyncio.timeout(STEP):
            for _ in range(64):
                frame = await self.ws.recv()
                message = self.inflate(frame.encode() if isinstance(frame, str) else frame)
                if message is not None:
                    return decode_message(message)
        raise AssertionError("no whole message in 64 frames")

    async def until(self, t: str) -> Any:
        for _ in range(200):
            payload = await self.recv()
            if payload.get("t") == t:
                return payload
        raise AssertionError(f"no {t}")


def identify() -> str:
    import orjson

    d = {"token": TOKEN, "intents": 513, "properties": {"os": "linux", "browser": "t",
         "device": "t"}, "shard": [0, 1]}  # fmt: skip
    return orjson.dumps({"op": 2, "d": d}).decode()


async def test_resume_goes_to_the_upstreams_resume_url_through_the_proxy() -> None:
    import orjson

    query = "?v=10&encoding=json&compress=zlib-stream"
    async with (
        running_emulator(heartbeat_interval_ms=41250, event_rate=0) as emulator,
        running_proxy(emulator.rest_url) as (proxy, out),
    ):
        async with connect(proxy.gateway_url + "/" + query, compression=None) as ws:
            bot = Bot(ws, Compression.ZLIB_STREAM)
            assert (await bot.recv())["op"] == 10
            await ws.send(identify())
            ready = await bot.until("READY")
            resume_url = ready["d"]["resume_gateway_url"]
            session_id, seq = ready["d"]["session_id"], ready["s"]
            await ws.close(code=4000)
        assert resume_url.startswith(proxy.gateway_url + "/resume/")
        async with connect(resume_url + query, compression=None) as ws:
            bot = Bot(ws, Compression.ZLIB_STREAM)
            assert (await bot.recv())["op"] == 10
            resume = {"token": TOKEN, "session_id": session_id, "seq": seq}
            await ws.send(orjson.dumps({"op": 6, "d": resume}).decode())
            await bot.until("RESUMED")
            await ws.close(code=1000)
        for _ in range(100):  # the proxy's side of the close is its own task
            if len(out.notes) == 4:
                break
            await asyncio.sleep(0.02)
    assert out.notes[1] == "bot #1 shard 0/1 closed by bot 4000"
    assert out.notes[2].startswith("bot #2 connected (resume, json, zlib-stream) -> ws://")
    # The resumed connection sent no IDENTIFY: its shard comes from the session's.
    assert out.notes[3] == "bot #2 shard 0/1 closed by bot 1000"
    no_token(out.text())


async def close_code_of(ws: ClientConnection) -> int | None:
    """Read until the connection ends; the close code received (None: dropped)."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(STEP):
            for _ in range(100):
                await ws.recv()
    received = ws.protocol.close_rcvd
    return None if received is None else received.code


async def test_an_upstream_close_code_reaches_the_bot() -> None:
    async with (
        running_upstream() as upstream,
        running_proxy(upstream.api_url) as (proxy, out),
        connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None) as ws,
    ):
        assert await ws.recv() == HELLO
        await ws.send("close")
        assert await close_code_of(ws) == 4004
        assert ws.protocol.close_rcvd is not None
        assert ws.protocol.close_rcvd.reason == "told to"
    assert out.notes[-1] == "bot #1 closed by upstream 4004 (told to)"


async def test_a_bot_close_code_reaches_the_upstream() -> None:
    async with running_upstream() as upstream, running_proxy(upstream.api_url) as (proxy, _):
        async with connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None) as ws:
            assert await ws.recv() == HELLO
            await ws.send('{"op":1,"d":null}')
            assert await ws.recv() == '{"op":1,"d":null}'  # frames pass unchanged both ways
            await ws.close(code=1000)
        for _ in range(100):
            if upstream.closes:
                break
            await asyncio.sleep(0.02)
    assert upstream.closes == [1000]


async def test_a_dropped_upstream_drops_the_bot_and_a_dropped_bot_drops_upstream() -> None:
    async with running_upstream() as upstream, running_proxy(upstream.api_url) as (proxy, out):
        upstream.close_with = None
        async with connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None) as ws:
            assert await ws.recv() == HELLO
            await ws.send("close")
            assert await close_code_of(ws) is None  # no close frame: the connection dropped
        assert out.notes[-1] == "bot #1 closed by upstream (dropped)"
        ws = await connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None)
        assert await ws.recv() == HELLO
        ws.transport.abort()  # the bot's TCP connection ends without a close frame
        for _ in range(100):
            if len(upstream.closes) == 2:
                break
            await asyncio.sleep(0.02)
    assert upstream.closes[1] == 1006  # no close frame reached upstream either


async def test_an_unreachable_gateway_fails_the_upgrade_and_others_are_still_served() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    async with running_upstream() as upstream, running_proxy(upstream.api_url) as (proxy, out):
        proxy.routes.register(f"ws://127.0.0.1:{dead}")
        resume = proxy.routes.register(f"ws://127.0.0.1:{dead}")
        with pytest.raises(InvalidStatus) as refused:
            await connect(resume + "?v=10&encoding=json", compression=None, open_timeout=STEP)
        assert refused.value.response.status_code == 502
        async with connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None) as ws:
            assert await ws.recv() == HELLO
        with pytest.raises(InvalidStatus) as bad:
            await connect(proxy.gateway_url + "/?v=10&encoding=xml", compression=None)
        assert bad.value.response.status_code == 400
    (line,) = out.failures
    assert line == f"bot #1: upstream ws://127.0.0.1:{dead} unreachable: Connection refused"


async def test_an_unknown_resume_key_opens_the_upstreams_gateway() -> None:
    async with running_upstream() as upstream, running_proxy(upstream.api_url) as (proxy, out):
        url = proxy.gateway_url + "/resume/forgotten?v=10&encoding=json"
        async with connect(url, compression=None) as ws:
            assert await ws.recv() == HELLO
    assert out.notes[0] == "bot #1: unknown resume URL; using the upstream's gateway"
    assert out.notes[1].startswith("bot #1 connected (new, json, none) -> ws://")


async def test_stopping_the_proxy_closes_both_sides_going_away() -> None:
    async with running_upstream() as upstream:
        async with running_proxy(upstream.api_url) as (proxy, out):
            ws = await connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None)
            assert await ws.recv() == HELLO
            stopping = asyncio.create_task(proxy.stop())
            assert await close_code_of(ws) == 1001
            await stopping
        for _ in range(100):
            if upstream.closes:
                break
            await asyncio.sleep(0.02)
    assert upstream.closes == [1001]
    assert out.notes[-1] == "bot #1 closed by proxy 1001 (birbctl proxy is stopping)"


async def test_a_relay_bug_ends_that_connection_with_1011_and_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from birbctl.proxy.relay import GatewayRelay

    real = GatewayRelay.from_bot

    def from_bot(self: GatewayRelay, frame: bytes | str) -> list[bytes | str]:
        if frame == "boom":
            raise RuntimeError(f"a bug quoting the frame {TOKEN}")
        return real(self, frame)

    monkeypatch.setattr(GatewayRelay, "from_bot", from_bot)
    async with running_upstream() as upstream, running_proxy(upstream.api_url) as (proxy, out):
        async with connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None) as ws:
            assert await ws.recv() == HELLO
            await ws.send("boom")
            assert await close_code_of(ws) == 1011
        async with connect(proxy.gateway_url + "/?v=10&encoding=json", compression=None) as ws:
            assert await ws.recv() == HELLO
            await ws.send("still here")
            assert await ws.recv() == "still here"
        for _ in range(100):
            if len(upstream.closes) == 2:
                break
            await asyncio.sleep(0.02)
    assert upstream.closes[0] == 1011
    assert (
        out.notes[1] == "bot #1 closed by proxy 1011 (birbctl proxy: internal error (RuntimeError))"
    )
    no_token(out.text())


async def test_a_broken_handshake_is_refused_before_upstream_is_asked() -> None:
    async with running_upstream() as upstream, running_proxy(upstream.api_url) as (proxy, out):
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(
            b"GET /?v=10 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )  # fmt: skip  (no Sec-WebSocket-Key)
        await writer.drain()
        async with asyncio.timeout(STEP):
            status_line = await reader.readline()
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 400 ")
    assert upstream.received == [] and upstream.closes == []
    assert out.failures == []
