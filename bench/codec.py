"""Receive-path throughput: birbctl's inflate + decode vs the bare libraries, one run.

Prints messages/s for each path and the ratio ours / baseline, measured side by side
(paired rounds, median ratio) on MESSAGE_CREATE-sized payloads:

  JSON: PacketReader("json", "zlib-stream")  vs  zlib.decompressobj + orjson.loads
  ETF:  PacketReader("etf", "zlib-stream")   vs  zlib.decompressobj + erlpack.unpack

Run: python bench/codec.py [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import zlib
from collections.abc import Callable
from typing import Any

import orjson

from birbctl.codec.etf import HAVE_C_DECODER, encode_etf
from birbctl.codec.packets import PacketReader


def snowflake(rng: random.Random) -> str:
    ms = rng.randint(1_600_000_000_000, 1_750_000_000_000) - 1_420_070_400_000
    return str((ms << 22) | rng.getrandbits(22))


def message_create(rng: random.Random, seq: int) -> dict[str, Any]:
    """A MESSAGE_CREATE shaped like Discord's (about 1.5 KB of JSON)."""
    guild, channel, author = snowflake(rng), snowflake(rng), snowflake(rng)
    words = ["gateway", "heartbeat", "resume", "shard", "birb", "zlib", "ping", "ready"]
    return {
        "op": 0,
        "t": "MESSAGE_CREATE",
        "s": seq,
        "d": {
            "type": 0,
            "tts": False,
            "timestamp": "2026-11-27T12:34:56.789000+00:00",
            "referenced_message": None,
            "pinned": False,
            "nonce": snowflake(rng),
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "member": {
                "roles": [snowflake(rng) for _ in range(3)],
                "premium_since": None,
                "pending": False,
                "nick": None,
                "mute": False,
                "joined_at": "2024-01-02T03:04:05.678000+00:00",
                "flags": 0,
                "deaf": False,
                "communication_disabled_until": None,
                "avatar": None,
            },
            "id": snowflake(rng),
            "flags": 0,
            "embeds": [],
            "edited_timestamp": None,
            "content": " ".join(rng.choice(words) for _ in range(rng.randint(5, 40))),
            "components": [],
            "channel_id": channel,
            "author": {
                "username": f"user{rng.randint(1, 99999)}",
                "public_flags": 0,
                "id": author,
                "global_name": "Someone",
                "discriminator": "0",
                "clan": None,
                "avatar_decoration_data": None,
                "avatar": "a" * 32,
            },
            "attachments": [],
            "guild_id": guild,
        },
    }


def zlib_frames(messages: list[bytes]) -> list[bytes]:
    compressor = zlib.compressobj()
    return [compressor.compress(m) + compressor.flush(zlib.Z_SYNC_FLUSH) for m in messages]


def rate(run: Callable[[list[bytes]], int], frames: list[bytes]) -> float:
    start = time.perf_counter()
    count = run(frames)
    return count / (time.perf_counter() - start)


def bare_json(frames: list[bytes]) -> int:
    inflate = zlib.decompressobj()
    loads = orjson.loads
    for frame in frames:
        loads(inflate.decompress(frame))
    return len(frames)


def bare_erlpack(frames: list[bytes]) -> int:
    import erlpack

    inflate = zlib.decompressobj()
    unpack = erlpack.unpack
    for frame in frames:
        unpack(inflate.decompress(frame))
    return len(frames)


def ours(encoding: str) -> Callable[[list[bytes]], int]:
    def run(frames: list[bytes]) -> int:
        reader = PacketReader(encoding, "zlib-stream")  # type: ignore[arg-type]
        feed = reader.feed
        count = 0
        for frame in frames:
            count += feed(frame) is not None
        return count

    return run


def paired(
    baseline: Callable[[list[bytes]], int],
    mine: Callable[[list[bytes]], int],
    frames: list[bytes],
    rounds: int,
) -> tuple[list[float], list[float], list[float]]:
    """(baseline rates, our rates, our/baseline ratio per round): each round runs both
    back to back, the order alternating so neither always runs on a warmer cache."""
    base_rates, my_rates, ratios = [], [], []
    for i in range(rounds):
        if i % 2:
            mine_rate = rate(mine, frames)
            base_rate = rate(baseline, frames)
        else:
            base_rate = rate(baseline, frames)
            mine_rate = rate(mine, frames)
        base_rates.append(base_rate)
        my_rates.append(mine_rate)
        ratios.append(mine_rate / base_rate)
    return base_rates, my_rates, ratios


def compare(
    label: str,
    baseline_label: str,
    baseline: Callable[[list[bytes]], int],
    mine: Callable[[list[bytes]], int],
    frames: list[bytes],
    rounds: int,
) -> float:
    """Paired rounds (baseline then ours, back to back); the ratio is the median of the
    per-round ratios, which a busy machine disturbs far less than best-of figures."""
    base_rates, my_rates, ratios = paired(baseline, mine, frames, rounds)
    ratio = statistics.median(ratios)
    print(f"{label:<34} {statistics.median(my_rates):>10,.0f} msg/s (median)")
    print(f"{baseline_label:<34} {statistics.median(base_rates):>10,.0f} msg/s (median)")
    print(
        f"{'ratio (median of paired rounds)':<34} {ratio:>10.2f}  "
        f"[min {min(ratios):.2f}, max {max(ratios):.2f}]\n"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    rng = random.Random(1)
    payloads = [message_create(rng, seq) for seq in range(1, args.messages + 1)]
    json_msgs = [orjson.dumps(p) for p in payloads]
    etf_msgs = [encode_etf(p, style="server") for p in payloads]
    json_frames, etf_frames = zlib_frames(json_msgs), zlib_frames(etf_msgs)
    avg = lambda xs: sum(map(len, xs)) / len(xs)  # noqa: E731
    print(
        f"{args.messages} MESSAGE_CREATE payloads: JSON {avg(json_msgs):.0f} B "
        f"({avg(json_frames):.0f} B compressed), ETF {avg(etf_msgs):.0f} B "
        f"({avg(etf_frames):.0f} B compressed); {args.rounds} paired rounds; "
        f"C ETF decoder: {'yes' if HAVE_C_DECODER else 'no (pure Python)'}\n"
    )
    compare(
        "birbctl JSON (zlib-stream)",
        "zlib + orjson.loads",
        bare_json,
        ours("json"),
        json_frames,
        args.rounds,
    )
    compare(
        "birbctl ETF (zlib-stream, str)",
        "zlib + erlpack.unpack (bytes)",
        bare_erlpack,
        ours("etf"),
        etf_frames,
        args.rounds,
    )


if __name__ == "__main__":
    main()
