"""connect's plumbing in-process: token sources, GET /gateway/bot, several shards under
one identify gate, --record, and the plain view."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import stat
from pathlib import Path

import pytest
from test_client_lifecycle import TOKEN, emulator

from birbctl.capture.sources import iter_messages
from birbctl.client.rest import RestError, get_gateway_bot
from birbctl.client.runner import ConnectOptions, run_connect
from birbctl.client.token import load_token
from birbctl.client.websocket import Websocket, _describe
from birbctl.errors import ConfigError, GatewayClosed
from birbctl.protocol.events import Action, Reconnecting
from birbctl.render.lines import PlainView


def test_token_from_env_or_file(tmp_path: Path) -> None:
    assert load_token(environ={"DISCORD_TOKEN": f" Bot {TOKEN}\n"}) == TOKEN
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert load_token(str(path), environ={}) == TOKEN
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        load_token(environ={})
    path.write_text("two words")
    with pytest.raises(ConfigError) as info:
        load_token(str(path), environ={})
    assert "two words" not in str(info.value)
    with pytest.raises(ConfigError, match="No such file"):
        load_token(str(tmp_path / "missing"), environ={})


async def test_gateway_bot_from_the_emulator() -> None:
    async with emulator(shards=3) as server:
        bot = await get_gateway_bot(server.rest_url, TOKEN)
        assert bot.url.startswith("ws://127.0.0.1:") and bot.shards == 3
        assert bot.session_start_limit.max_concurrency >= 1
    async with emulator(tokens=frozenset({"x.y.z"})) as server:
        with pytest.raises(RestError, match="401 Unauthorized: check the token") as info:
            await get_gateway_bot(server.rest_url, TOKEN)
        assert TOKEN not in str(info.value)


async def test_two_shards_identify_five_seconds_apart_and_record(tmp_path: Path) -> None:
    record = tmp_path / "session.capture"
    out = io.StringIO()
    async with emulator(shards=2, guilds=4, heartbeat_interval_ms=1000) as server:
        options = ConnectOptions(
            api_url=server.rest_url, intents=513, shards="auto", record=str(record),
            duration=6.5, token=TOKEN,
        )  # fmt: skip
        async with asyncio.timeout(30):
            code = await run_connect(options, PlainView(out))
    assert code == 0
    text = out.getvalue()
    assert "shard 0 ready" in text and "shard 1 ready" in text
    # max_concurrency 1: one per 5 s, plus the driver margin (0.1 s)
    assert "waiting 5.1 s for an identify slot" in text
    assert "shard 1 summary" in text
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert TOKEN not in record.read_text()
    messages = list(iter_messages(str(record)))
    ready = [m for m in messages if m.payload.get("t") == "READY"]
    assert len(ready) == 2  # both shards, one capture, connections numbered across shards


async def test_fatal_close_raises_out_of_run_connect() -> None:
    async with emulator(tokens=frozenset({"x.y.z"})) as server:
        options = ConnectOptions(gateway_url=server.gateway_url, intents=513, token=TOKEN)
        with pytest.raises(GatewayClosed) as info:
            async with asyncio.timeout(15):
                await run_connect(options, PlainView(io.StringIO()))
        assert info.value.code == 4004 and info.value.exit_code == 4


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_could_not_connect_reads_once_and_in_words() -> None:
    """The reconnect reason says "could not connect" once, then the cause in words."""
    why: list[str] = []

    def listen(ws: Websocket, action: Action) -> None:
        if isinstance(action, Reconnecting):
            why.append(action.why)
            ws.close(1000, "seen enough")

    ws = Websocket(TOKEN, intents=0, gateway_url=f"ws://127.0.0.1:{closed_port()}")
    ws.add_listener(listen)
    async with asyncio.timeout(15):
        await ws.run()
    assert why == ["could not connect: connection refused"]


def test_could_not_connect_causes() -> None:
    assert _describe(TimeoutError()) == "no answer within 20 s"
    assert _describe(socket.gaierror(-2, "Name or service not known")) == (
        "host name lookup failed (name or service not known)"
    )
    both = OSError(
        "Multiple exceptions: [Errno 111] Connect call failed ('::1', 1, 0, 0), "
        "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    )
    assert _describe(both) == "connection refused"
