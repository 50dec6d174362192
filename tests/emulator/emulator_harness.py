"""A real websockets client for the emulator, reading frames with birbctl's own inflaters
and codecs. A plain module (not conftest) so test files can import its names."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from conftest import running_emulator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from birbctl.codec.message import decode_message, encode_message
from birbctl.emulator.server import EmulatorServer
from birbctl.protocol.wire import Compression
from birbctl.transport.inflate import make_inflater

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"
BOT_ID = "1100000000000000005"
INTENTS = 513 | (1 << 11) | (1 << 10)  # GUILDS, GUILD_MESSAGES, TYPING, REACTIONS
STEP = 2.0  # the longest any single expected frame may take


def running(**overrides: Any) -> contextlib.AbstractAsyncContextManager[EmulatorServer]:
    """A quiet emulator (no synthetic traffic, Discord's interval) unless told otherwise."""
    options: dict[str, Any] = {"event_rate": 0, "seed": 7, "heartbeat_interval_ms": 41250}
    return running_emulator(**{**options, **overrides})


class GatewayClient:
    def __init__(self, ws: ClientConnection, encoding: str, compress: str | None) -> None:
        self.ws = ws
        self.encoding = encoding
        self.inflater = make_inflater(Compression.of(compress))
        self.frames: list[bytes | str] = []

    async def recv(self, timeout: float = STEP) -> Any:
        """The next whole message, decoded (ETF snowflakes as str, like JSON)."""
        async with asyncio.timeout(timeout):
            for _ in range(64):  # a message spans at most a few frames
                frame = await self.ws.recv()
                self.frames.append(frame)
                data = frame.encode() if isinstance(frame, str) else frame
                message = self.inflater.feed(data)
                if message is not None:
                    return decode_message(message)
        raise AssertionError("no whole message in 64 frames")

    async def recv_until(
        self, check: Callable[[Any], bool], *, limit: int = 200, timeout: float = 5.0
    ) -> tuple[Any, list[Any]]:
        """Receive until `check(payload)`; returns it and everything before it."""
        seen: list[Any] = []
        async with asyncio.timeout(timeout):
            for _ in range(limit):
                payload = await self.recv(timeout)
                if check(payload):
                    return payload, seen
                seen.append(payload)
        raise AssertionError(f"not found in {limit} payloads: {[p.get('t') for p in seen]}")

    async def send(self, payload: Any) -> None:
        data = encode_message(payload, "etf" if self.encoding == "etf" else "json")
        if self.encoding == "json":
            await self.ws.send(data.decode())
        else:
            await self.ws.send(data)

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    async def closed_with(self, timeout: float = STEP) -> int | None:
        """Read until the server closes; return its close code (None: no close frame)."""
        async with asyncio.timeout(timeout):
            with contextlib.suppress(ConnectionClosed):
                for _ in range(1000):
                    await self.ws.recv()
        rcvd = self.ws.protocol.close_rcvd
        return None if rcvd is None else rcvd.code

    async def identify(
        self, *, token: str = TOKEN, intents: int = INTENTS, shard: list[int] | None = None
    ) -> Any:
        d: dict[str, Any] = {
            "token": token,
            "intents": intents,
            "properties": {"os": "linux", "browser": "birbctl-test", "device": "birbctl-test"},
        }
        if shard is not None:
            d["shard"] = shard
        await self.send({"op": 2, "d": d})
        ready, _ = await self.recv_until(lambda p: p.get("t") == "READY")
        return ready


@contextlib.asynccontextmanager
async def gateway(
    server: EmulatorServer,
    *,
    encoding: str = "json",
    compress: str | None = None,
    version: str | None = "10",
    url: str | None = None,
    hello: bool = True,
) -> AsyncIterator[GatewayClient]:
    query = [f"encoding={encoding}"]
    if version is not None:
        query.append(f"v={version}")
    if compress is not None:
        query.append(f"compress={compress}")
    base = url or server.gateway_url
    async with asyncio.timeout(STEP):
        ws = await connect(f"{base}/?{'&'.join(query)}", compression=None, max_size=2**24)
    client = GatewayClient(ws, encoding, compress)
    try:
        if hello:
            first = await client.recv()
            assert first["op"] == 10, first
        yield client
    finally:
        async with asyncio.timeout(STEP):
            await ws.close()


async def left_resumable(server: EmulatorServer) -> tuple[str, int]:
    """A session identified, then left resumable (closed with 4000, not 1000): its id
    and the sequence of its READY, once the emulator has detached it."""
    async with gateway(server) as client:
        ready = await client.identify()
        await client.ws.close(4000)
    session_id: str = ready["d"]["session_id"]
    async with asyncio.timeout(2):
        while (s := server.ctx.records.get(session_id)) is not None and s.connection is not None:
            await asyncio.sleep(0.01)
    return session_id, ready["s"]
