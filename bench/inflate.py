"""Inflating one huge message: birbctl's inflaters vs the bare libraries, one run.

A GUILD_CREATE-shaped JSON message of --size-mb MB (members with varying ids) is
compressed as zlib-stream (sync flush) and zstd-stream (one frame, block flush), then
inflated by birbctl and by bare `zlib` / `zstd` (backports.zstd before Python 3.14,
compression.zstd from 3.14) on the same bytes, side by side in paired rounds:

  live      ZlibStreamInflater / ZstdStreamInflater fed --frame-kib frames
            vs  zlib.decompressobj / ZstdDecompressor on the same frames, joined
  raw       transport.raw.inflate_pieces (cut the frameless stream, inflate)
            vs  one decompress of the whole stream
  raw+json  transport.raw.raw_messages (find the messages, decode them with orjson)
            vs  one decompress + orjson.loads
  decode    capture.sources.iter_messages on the stream saved as a file
            (what `birbctl decode` runs)  vs  read the file + decompress + orjson.loads

Prints seconds (median), the speed ratio bare/ours (bare seconds over ours: 1.00 is as
fast as the bare library) as min/median/max over the paired rounds, and the peak RSS.

Run: python bench/inflate.py [--size-mb 100] [--rounds 5] [--frame-kib 1024]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from birbctl.capture.sources import iter_messages
from birbctl.transport.inflate import (
    DEFAULT_MAX_MESSAGE,
    ZlibStreamInflater,
    ZstdStreamInflater,
    _zstd_module,
)
from birbctl.transport.raw import inflate_pieces, raw_messages

zstd: Any = _zstd_module()


def guild_create(size: int) -> bytes:
    """About `size` bytes of GUILD_CREATE JSON: members whose ids, names and roles vary."""
    rng = random.Random(1)
    parts = [b'{"op":0,"t":"GUILD_CREATE","s":2,"d":{"id":"81384788765712384","members":[']
    total = len(parts[0])
    template = (
        b'{"user":{"id":"%d","username":"member%d","global_name":null,"avatar":null,'
        b'"discriminator":"0","public_flags":0},"roles":["%d","%d"],"nick":null,'
        b'"joined_at":"2024-%02d-%02dT03:04:05.678000+00:00","deaf":false,"mute":false,'
        b'"flags":0,"pending":false},'
    )
    while total < size:
        member = template % (
            rng.getrandbits(62),
            rng.randrange(10**7),
            rng.getrandbits(62),
            rng.getrandbits(62),
            rng.randint(1, 12),
            rng.randint(1, 28),
        )
        parts.append(member)
        total += len(member)
    parts.append(b'{"user":{"id":"0"}}]}}')
    return b"".join(parts)


def zlib_stream(message: bytes) -> bytes:
    compressor = zlib.compressobj()
    return compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)


def zstd_stream(message: bytes) -> bytes:
    out: bytes = zstd.ZstdCompressor().compress(message, mode=zstd.ZstdCompressor.FLUSH_BLOCK)
    return out


def split(data: bytes, size: int) -> list[bytes]:
    return [data[at : at + size] for at in range(0, len(data), size)]


# The runners each return the inflated size, which the caller checks.


def ours_live(compress: str, frames: list[bytes]) -> int:
    inflater = ZlibStreamInflater() if compress == "zlib" else ZstdStreamInflater()
    feed = inflater.feed
    size = 0
    for frame in frames:
        message = feed(frame)
        if message is not None:
            size += len(message)
    return size


def bare_live(compress: str, frames: list[bytes]) -> int:
    inflate = (zlib.decompressobj() if compress == "zlib" else zstd.ZstdDecompressor()).decompress
    return len(b"".join([inflate(frame) for frame in frames]))


def ours_raw(compress: str, data: bytes) -> int:
    mode = f"{compress}-stream"
    return sum(len(p) for _, _, p in inflate_pieces(data, mode, max_size=DEFAULT_MAX_MESSAGE))


def bare_raw(compress: str, data: bytes) -> int:
    inflate = (zlib.decompressobj() if compress == "zlib" else zstd.ZstdDecompressor()).decompress
    return len(inflate(data))


def ours_json(compress: str, data: bytes) -> int:
    mode = f"{compress}-stream"
    found = list(raw_messages(data, mode, max_size=DEFAULT_MAX_MESSAGE, decode=orjson.loads))
    assert all(m.error is None for m in found)
    return sum(len(m.data) for m in found)


def bare_json(compress: str, data: bytes) -> int:
    inflate = (zlib.decompressobj() if compress == "zlib" else zstd.ZstdDecompressor()).decompress
    message = inflate(data)
    orjson.loads(message)
    return len(message)


def ours_decode(compress: str, path: str) -> int:
    return sum(m.size for m in iter_messages(path, f"{compress}-stream"))


def bare_decode(compress: str, path: str) -> int:
    return bare_json(compress, Path(path).read_bytes())


def seconds(run: Callable[[str, Any], int], compress: str, data: Any, expected: int) -> float:
    start = time.perf_counter()
    size = run(compress, data)
    elapsed = time.perf_counter() - start
    assert size == expected, (run.__name__, size, expected)
    return elapsed


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def compare(
    label: str,
    mine: Callable[[str, Any], int],
    bare: Callable[[str, Any], int],
    compress: str,
    data: Any,
    expected: int,
    rounds: int,
) -> None:
    """Paired rounds (bare then ours, back to back): the ratio is taken per round."""
    mine_s, bare_s, ratios = [], [], []
    for _ in range(rounds):
        bare_s.append(seconds(bare, compress, data, expected))
        mine_s.append(seconds(mine, compress, data, expected))
        ratios.append(bare_s[-1] / mine_s[-1])
    print(
        f"{compress:<5} {label:<9} ours {statistics.median(mine_s):6.2f} s   "
        f"bare {statistics.median(bare_s):6.2f} s   bare/ours "
        f"min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  "
        f"max {max(ratios):.2f}   peak RSS {peak_rss_mb():,.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0, help="message size in MB")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frame-kib", type=int, default=1024, help="websocket frame size")
    parser.add_argument(
        "--skip", action="append", default=[], choices=["live", "raw", "raw+json", "decode"]
    )
    args = parser.parse_args()

    message = guild_create(int(args.size_mb * 1_000_000))
    streams = {"zlib": zlib_stream(message), "zstd": zstd_stream(message)}
    mb = {name: f"{len(data) / 1e6:.1f} MB" for name, data in streams.items()}
    print(
        f"one {len(message) / 1e6:.1f} MB GUILD_CREATE; zlib-stream {mb['zlib']}, "
        f"zstd-stream {mb['zstd']}; {args.frame_kib} KiB frames; "
        f"{args.rounds} paired rounds; zstd from {zstd.__name__}; peak RSS so far "
        f"{peak_rss_mb():,.0f} MB\n",
        flush=True,
    )
    expected = len(message)
    with tempfile.TemporaryDirectory() as tmp:
        for compress, data in streams.items():
            frames = split(data, args.frame_kib * 1024)
            if "live" not in args.skip:
                compare("live", ours_live, bare_live, compress, frames, expected, args.rounds)
            if "raw" not in args.skip:
                compare("raw", ours_raw, bare_raw, compress, data, expected, args.rounds)
            if "raw+json" not in args.skip:
                compare("raw+json", ours_json, bare_json, compress, data, expected, args.rounds)
            if "decode" not in args.skip:
                path = Path(tmp) / f"message.{compress}"
                path.write_bytes(data)
                compare("decode", ours_decode, bare_decode, compress, str(path), expected, 1)


if __name__ == "__main__":
    main()
