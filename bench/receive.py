"""The receive path (inflate + parse of each frame) against the bare libraries and against
discord.py's and hikari's own receive code, fed the same frames, in paired rounds.

  zlib-stream JSON  birbctl PacketReader.feed         vs  zlib.decompressobj + orjson.loads
                    birbctl                           vs  hikari: _GatewayZlibStreamTransport
                        .receive_json() (its inflate, then its `loads`), awaited once per
                        frame from a stand-in websocket whose receive() hands the frame over
  zstd-stream JSON  birbctl PacketReader.feed         vs  ZstdDecompressor + orjson.loads
                    birbctl                           vs  discord.py: the decompression
                        context DiscordWebSocket.received_message uses
                        (utils._ActiveDecompressionContext().decompress, which returns str)
                        then utils._from_json (orjson.loads when orjson is installed)
  ETF (zlib-stream) birbctl PacketReader("etf")       vs  zlib + erlpack.unpack (bench/codec.py)

discord.py picks zstd-stream whenever a zstd module is importable (this venv has one), so
its zlib class is not defined here and it is compared on zstd-stream; hikari is given
zlib-stream, its default. Ratios are birbctl's messages/s over the other's (higher is
better), per round, min/median/max.

Run: python bench/receive.py [--messages 20000] [--rounds 11]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from codec import bare_erlpack, message_create, ours, paired, zlib_frames

from birbctl.codec.etf import encode_etf
from birbctl.transport.inflate import _zstd_module

Runner = Callable[[list[bytes]], int]


def zstd_frames(messages: list[bytes]) -> list[bytes]:
    zstd = _zstd_module()
    compressor = zstd.ZstdCompressor()
    flush = zstd.ZstdCompressor.FLUSH_BLOCK
    return [compressor.compress(m, mode=flush) for m in messages]


def ours_zstd(frames: list[bytes]) -> int:
    from birbctl.codec.packets import PacketReader
    from birbctl.protocol.wire import Compression, Encoding

    feed = PacketReader(Encoding.JSON, Compression.ZSTD_STREAM).feed
    count = 0
    for frame in frames:
        count += feed(frame) is not None
    return count


def bare_zstd(frames: list[bytes]) -> int:
    inflate = _zstd_module().ZstdDecompressor().decompress
    loads = orjson.loads
    for frame in frames:
        loads(inflate(frame))
    return len(frames)


def discordpy(frames: list[bytes]) -> int:
    """discord.py's receive: its decompression context, then its JSON loader."""
    from discord import utils

    decompress = utils._ActiveDecompressionContext().decompress
    loads = utils._from_json
    count = 0
    for frame in frames:
        message = decompress(frame)
        if message is not None:
            loads(message)
            count += 1
    return count


def discordpy_compression() -> str:
    from discord import utils

    return str(utils._ActiveDecompressionContext.COMPRESSION_TYPE)


class _StandInSocket:
    """What hikari's transport awaits: receive() returning aiohttp's message tuple."""

    def __init__(self, messages: list[Any]) -> None:
        self._next = iter(messages).__next__

    async def receive(self) -> Any:
        return self._next()


def hikari(frames: list[bytes]) -> Runner:
    """hikari's receive: _GatewayZlibStreamTransport.receive_json, once per frame (a
    fresh transport each run; aiohttp's message tuples built beforehand, not timed)."""
    import contextlib
    import logging

    import aiohttp
    from hikari.impl import shard
    from hikari.internal import data_binding

    messages = [aiohttp.WSMessage(aiohttp.WSMsgType.BINARY, frame, None) for frame in frames]
    logger = logging.getLogger("bench.hikari")

    def run(frames: list[bytes]) -> int:
        transport = shard._GatewayZlibStreamTransport(
            ws=_StandInSocket(messages),
            exit_stack=contextlib.AsyncExitStack(),
            logger=logger,
            log_filterer=lambda payload: payload,
            dumps=data_binding.default_json_dumps,
            loads=data_binding.default_json_loads,
        )

        async def receive_all() -> int:
            receive = transport.receive_json
            for _ in range(len(frames)):
                await receive()
            return len(frames)

        return asyncio.run(receive_all())

    return run


def payloads(count: int) -> list[dict[str, Any]]:
    rng = random.Random(1)
    return [message_create(rng, seq) for seq in range(1, count + 1)]


def comparisons(count: int) -> list[tuple[str, str, Runner, Runner, list[bytes]]]:
    """(label, baseline label, baseline, ours, frames) for every row."""
    docs = payloads(count)
    json_msgs = [orjson.dumps(p) for p in docs]
    zlib_json, zstd_json = zlib_frames(json_msgs), zstd_frames(json_msgs)
    etf = zlib_frames([encode_etf(p, style="server") for p in docs])
    return [
        ("JSON zlib-stream", "zlib + orjson.loads", _bare_zlib, ours("json"), zlib_json),
        ("JSON zlib-stream", "hikari receive_json", hikari(zlib_json), ours("json"), zlib_json),
        ("JSON zstd-stream", "zstd + orjson.loads", bare_zstd, ours_zstd, zstd_json),
        (
            "JSON " + discordpy_compression(),
            "discord.py decompress + _from_json",
            discordpy,
            ours_zstd if discordpy_compression() == "zstd-stream" else ours("json"),
            zstd_json if discordpy_compression() == "zstd-stream" else zlib_json,
        ),
        ("ETF zlib-stream (safe decoder)", "zlib + erlpack.unpack", bare_erlpack, ours("etf"), etf),
    ]


def _bare_zlib(frames: list[bytes]) -> int:
    from codec import bare_json

    return bare_json(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    for label, base_label, base, mine, frames in comparisons(args.messages):
        base_rates, my_rates, ratios = paired(base, mine, frames, args.rounds)
        print(
            f"{label:<32} birbctl {statistics.median(my_rates):>9,.0f}/s  {base_label:<36}"
            f" {statistics.median(base_rates):>9,.0f}/s  ratio {statistics.median(ratios):.2f}"
            f" [{min(ratios):.2f}, {max(ratios):.2f}]"
        )


if __name__ == "__main__":
    main()
