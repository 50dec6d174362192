"""The floor for bench/proxy.py: the least any re-compressing gateway proxy in Python does.

One aiohttp server on 127.0.0.1 (port 0; it prints its ws:// URL). Each websocket, at
any path, opens the same path and query on the upstream gateway and pumps: upstream to
bot, each zlib-stream frame inflated with one context and deflated again with another
(level 1 and a sync flush, as birbctl proxy does toward a bot); bot to upstream, each
frame as it came. No JSON parsing, no views, no faults, no control socket, no REST:
what birbctl proxy adds on top of this is its own cost.

Run: python bench/bare_proxy.py ws://127.0.0.1:PORT   (the upstream gateway)
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import zlib

import aiohttp
from aiohttp import web

from birbctl.transport.deflate import LIVE_ZLIB_LEVEL

SUFFIX = b"\x00\x00\xff\xff"


async def relay(request: web.Request) -> web.WebSocketResponse:
    upstream_base: str = request.app["upstream"]
    session: aiohttp.ClientSession = request.app["session"]
    upstream = await session.ws_connect(
        upstream_base + request.path_qs, autoping=False, max_msg_size=0, compress=0
    )
    bot = web.WebSocketResponse(autoping=False, max_msg_size=0, compress=False)
    await bot.prepare(request)

    async def down() -> None:
        inflate = zlib.decompressobj().decompress
        deflater = zlib.compressobj(LIVE_ZLIB_LEVEL)
        compress, flush, sync = deflater.compress, deflater.flush, zlib.Z_SYNC_FLUSH
        pending = b""
        async for message in upstream:
            if message.type is not aiohttp.WSMsgType.BINARY:
                break
            pending += message.data
            if not pending.endswith(SUFFIX):
                continue
            data, pending = inflate(pending), b""
            await bot.send_bytes(compress(data) + flush(sync))
        await bot.close()

    async def up() -> None:
        async for message in bot:
            if message.type is aiohttp.WSMsgType.BINARY:
                await upstream.send_bytes(message.data)
            elif message.type is aiohttp.WSMsgType.TEXT:
                await upstream.send_str(message.data)
            else:
                break
        await upstream.close()

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=5)
    return bot


async def serve(upstream: str) -> None:
    app = web.Application()
    app["upstream"] = upstream.rstrip("/")
    app["session"] = aiohttp.ClientSession()
    app.router.add_get("/{tail:.*}", relay)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"ws://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await app["session"].close()
        await runner.cleanup()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sys.argv[1]))
