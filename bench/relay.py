"""The proxy's per-message cost: GatewayRelay.from_upstream vs bare inflate + deflate.

The proxy must inflate what upstream sends and compress it again toward the bot; that
much any re-compressing proxy pays. What the relay adds on top (decoding, counting,
status, the events) is what this measures, on MESSAGE_CREATE-sized zlib-stream frames:

  relay:     GatewayRelay(encoding, "zlib-stream").from_upstream(frame)
  baseline:  zlib.decompressobj().decompress(frame) + compressobj(level 1) sync flush

Paired rounds (baseline then relay, back to back), each over a fresh stream; the ratio
is relay msg/s over baseline msg/s (min / median / max of the rounds), and the added
time is the difference of the per-message medians. Each encoding runs twice, the
second time with a listener attached, so the WireEvent and PacketEvent of every message
are built (as with a view or --record running).

Run: python bench/relay.py [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import zlib
from collections.abc import Callable

import orjson
from codec import message_create, zlib_frames

from birbctl.codec.etf import HAVE_C_DECODER, encode_etf
from birbctl.options import EtfStyle
from birbctl.protocol.wire import Compression, Encoding
from birbctl.proxy.relay import GatewayRelay, RelayEvent
from birbctl.transport.deflate import LIVE_ZLIB_LEVEL


def bare(frames: list[bytes]) -> int:
    """What any re-compressing proxy pays: inflate, deflate at the relay's level."""
    inflate = zlib.decompressobj().decompress
    deflater = zlib.compressobj(LIVE_ZLIB_LEVEL)
    compress, flush, sync = deflater.compress, deflater.flush, zlib.Z_SYNC_FLUSH
    for frame in frames:
        compress(inflate(frame))
        flush(sync)
    return len(frames)


def ignore(event: RelayEvent) -> None:
    """A listener that keeps nothing: the events' cost without the memory of keeping
    every payload (which a view or a capture writer does not do either)."""


def relay(encoding: Encoding, *, listener: bool) -> Callable[[list[bytes]], int]:
    def run(frames: list[bytes]) -> int:
        gateway = GatewayRelay(
            encoding=encoding, compress=Compression.ZLIB_STREAM, resume_url_for=lambda u: u
        )
        if listener:
            gateway.add_listener(ignore)
        feed = gateway.from_upstream
        count = 0
        for frame in frames:
            count += len(feed(frame))
        return count

    return run


def per_message_us(run: Callable[[list[bytes]], int], frames: list[bytes]) -> float:
    start = time.perf_counter()
    count = run(frames)
    elapsed = time.perf_counter() - start
    assert count == len(frames), f"{count} of {len(frames)} messages came out"
    return elapsed / count * 1e6


def compare(
    label: str, mine: Callable[[list[bytes]], int], frames: list[bytes], rounds: int
) -> None:
    base_us, my_us, ratios = [], [], []
    for _ in range(rounds):
        base_us.append(per_message_us(bare, frames))
        my_us.append(per_message_us(mine, frames))
        ratios.append(base_us[-1] / my_us[-1])  # throughput ratio: relay / baseline
    base, mine_med = statistics.median(base_us), statistics.median(my_us)
    print(f"{label}")
    print(f"  relay        {mine_med:7.2f} us/msg  {1e6 / mine_med:>10,.0f} msg/s (median)")
    print(f"  inflate+deflate {base:4.2f} us/msg  {1e6 / base:>10,.0f} msg/s (median)")
    print(
        f"  throughput ratio relay/baseline: median {statistics.median(ratios):.2f} "
        f"[min {min(ratios):.2f}, max {max(ratios):.2f}]; "
        f"added {mine_med - base:.2f} us/msg (median)\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    rng = random.Random(1)
    payloads = [message_create(rng, seq) for seq in range(1, args.messages + 1)]
    json_frames = zlib_frames([orjson.dumps(p) for p in payloads])
    etf_frames = zlib_frames([encode_etf(p, style=EtfStyle.SERVER) for p in payloads])
    avg = lambda xs: sum(map(len, xs)) / len(xs)  # noqa: E731
    print(
        f"{args.messages} MESSAGE_CREATE frames (zlib-stream, JSON {avg(json_frames):.0f} B "
        f"and ETF {avg(etf_frames):.0f} B compressed); "
        f"{args.rounds} paired rounds; zlib level toward the bot {LIVE_ZLIB_LEVEL}; "
        f"C ETF decoder: {'yes' if HAVE_C_DECODER else 'no'}\n"
    )
    for encoding, frames in ((Encoding.JSON, json_frames), (Encoding.ETF, etf_frames)):
        for listener in (False, True):
            label = f"{encoding.value.upper()}, {'with' if listener else 'no'} listener"
            compare(label, relay(encoding, listener=listener), frames, args.rounds)


if __name__ == "__main__":
    main()
