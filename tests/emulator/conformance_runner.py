"""Run a real third-party Discord client against the emulator; print one JSON result line.

    python conformance_runner.py discordpy|hikari BASE_URL COMPRESS MESSAGES READIES RESUMES

A subprocess per run, because each library is pointed at the emulator through globals
(discord.py's Route.BASE, its decompressor choice) that must not leak between runs.
Stops once it has seen MESSAGES message creates, READIES ready events (a second READY
means it identified again) and RESUMES resumed events, or after a deadline.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"
DEADLINE = 20.0


class Tally:
    def __init__(self, want_messages: int, want_readies: int, want_resumes: int) -> None:
        self.want_messages = want_messages
        self.want_readies = want_readies
        self.want_resumes = want_resumes
        self.readies = 0
        self.resumes = 0
        self.guilds = 0
        self.messages: list[str] = []
        self.done = asyncio.Event()

    def check(self) -> None:
        if (
            self.readies >= self.want_readies
            and self.resumes >= self.want_resumes
            and len(self.messages) >= self.want_messages
        ):
            self.done.set()

    def result(self, compress: str) -> dict[str, Any]:
        return {
            "compress": compress,
            "readies": self.readies,
            "resumes": self.resumes,
            "guilds": self.guilds,
            "messages": self.messages,
        }


async def run_discordpy(base: str, compress: str, tally: Tally) -> str:
    if compress == "zlib-stream":
        sys.modules["zstandard"] = None  # type: ignore[assignment]  # discord.py falls back
    import logging

    import discord
    import yarl

    logging.getLogger("discord").setLevel(logging.CRITICAL)
    discord.http.Route.BASE = base.replace("ws://", "http://") + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(base + "/")
    used = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.2)

    @client.event
    async def on_ready() -> None:
        tally.readies += 1
        tally.guilds = len(client.guilds)
        tally.check()

    @client.event
    async def on_resumed() -> None:
        tally.resumes += 1
        tally.check()

    @client.event
    async def on_message(message: discord.Message) -> None:
        tally.messages.append(str(message.id))
        tally.check()

    task = asyncio.create_task(client.start(TOKEN))
    try:
        await tally.done.wait()
    finally:
        await client.close()
        await asyncio.wait([task], timeout=5)
    return str(used)


async def run_hikari(base: str, compress: str, tally: Tally) -> str:
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
        intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.MESSAGE_CONTENT,
        banner=None,
        logs="CRITICAL",
        suppress_optimization_warning=True,
    )

    @bot.listen(hikari.ShardReadyEvent)
    async def on_ready(event: hikari.ShardReadyEvent) -> None:
        tally.readies += 1
        tally.guilds = len(event.unavailable_guilds)
        tally.check()

    @bot.listen(hikari.ShardResumedEvent)
    async def on_resumed(event: hikari.ShardResumedEvent) -> None:
        tally.resumes += 1
        tally.check()

    @bot.listen(hikari.GuildMessageCreateEvent)
    async def on_message(event: hikari.GuildMessageCreateEvent) -> None:
        tally.messages.append(str(event.message_id))
        tally.check()

    await bot.start(check_for_updates=False)
    try:
        await tally.done.wait()
    finally:
        await bot.close()
    return compress


async def main() -> None:
    client, base, compress, messages, readies, resumes = sys.argv[1:7]
    tally = Tally(int(messages), int(readies), int(resumes))
    runner = run_discordpy if client == "discordpy" else run_hikari
    result: dict[str, Any]
    try:
        async with asyncio.timeout(DEADLINE):
            used = await runner(base, compress, tally)
        result = tally.result(used)
    except TimeoutError:
        result = tally.result(compress) | {"error": "deadline"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
