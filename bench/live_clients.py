"""One third-party client on the emulator's stream, counting the dispatches it handled in
a window of wall-clock time; prints one JSON line. Used by bench/live.py.

    python bench/live_clients.py discordpy|hikari WS_URL COMPRESS T0 T1

discord.py: a `Client` with every intent and its debug events on, counting
`on_socket_event_type` (called once per dispatch, after its receive path has inflated
and parsed it, before the event is parsed into models). hikari: a `GatewayBot` with
every intent, counting `ShardPayloadEvent` (one per dispatch, raw payload, before the
models). Each counts a dispatch when the library hands it over, with `time.time()`; only
those between T0 and T1 (unix seconds) count. Stops at T1 + 1 s.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

#: Dispatches of the connection's start, not of the synthetic stream: not counted.
HANDSHAKE = frozenset(("READY", "RESUMED", "GUILD_CREATE", "GUILD_MEMBERS_CHUNK", None))
TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.bEnChMaRkToKeN_not_a_real_one_012345"


class Window:
    def __init__(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = t0, t1
        self.count = 0
        self.total = 0
        self.ready_at: float | None = None

    def hit(self, name: str | None) -> None:
        if name in HANDSHAKE:
            return
        now = time.time()
        self.total += 1
        if self.t0 <= now <= self.t1:
            self.count += 1


async def run_discordpy(base: str, compress: str, window: Window) -> None:
    if compress == "zlib-stream":
        sys.modules["zstandard"] = None  # type: ignore[assignment]  # discord.py falls back
    import logging

    import discord
    import yarl

    logging.getLogger("discord").setLevel(logging.CRITICAL)
    discord.http.Route.BASE = base.replace("ws://", "http://") + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(base + "/")
    client = discord.Client(
        intents=discord.Intents.all(),
        guild_ready_timeout=0.2,
        enable_debug_events=True,
        chunk_guilds_at_startup=False,
    )

    @client.event
    async def on_ready() -> None:
        window.ready_at = time.time()

    @client.event
    async def on_socket_event_type(event_type: str) -> None:
        window.hit(event_type)

    task = asyncio.create_task(client.start(TOKEN))
    try:
        await asyncio.sleep(max(0.0, window.t1 + 1 - time.time()))
    finally:
        await client.close()
        await asyncio.wait([task], timeout=5)


async def run_hikari(base: str, compress: str, window: Window) -> None:
    import hikari
    from hikari.api.shard import GatewayCompression
    from hikari.impl import shard as shard_impl

    wanted = {
        "zlib-stream": GatewayCompression.TRANSPORT_ZLIB_STREAM,
        "zstd-stream": GatewayCompression.TRANSPORT_ZSTD_STREAM,
    }[compress]
    defaults = shard_impl.GatewayShardImpl.__init__.__kwdefaults__
    assert defaults is not None
    defaults["compression"] = wanted  # GatewayBot has no option for it
    bot = hikari.GatewayBot(
        TOKEN,
        rest_url=base.replace("ws://", "http://") + "/api/v10",
        intents=hikari.Intents.ALL,
        banner=None,
        logs="CRITICAL",
        suppress_optimization_warning=True,
        auto_chunk_members=False,
    )

    @bot.listen(hikari.ShardReadyEvent)
    async def on_ready(event: hikari.ShardReadyEvent) -> None:
        window.ready_at = time.time()

    @bot.listen(hikari.ShardPayloadEvent)
    async def on_payload(event: hikari.ShardPayloadEvent) -> None:
        window.hit(event.name)

    await bot.start(check_for_updates=False)
    try:
        await asyncio.sleep(max(0.0, window.t1 + 1 - time.time()))
    finally:
        await bot.close()


async def main() -> None:
    client, base, compress, t0, t1 = sys.argv[1:6]
    window = Window(float(t0), float(t1))
    runner = run_discordpy if client == "discordpy" else run_hikari
    result: dict[str, Any] = {"client": client}
    try:
        async with asyncio.timeout(float(t1) - time.time() + 30):
            await runner(base, compress, window)
    except TimeoutError:
        result["error"] = "deadline"
    except Exception as exc:  # reported, not raised: the runner prints what it got
        result["error"] = repr(exc)[:200]
    result |= {"count": window.count, "total": window.total, "ready_at": window.ready_at}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
