"""Capture decoding: the whole reader (file, envelope, base64, inflate, JSON) vs the bare
libraries on the same frames, in one run.

Generates a capture of N MESSAGE_CREATE-sized frames (JSON + zlib-stream, written by
CaptureWriter), then prints:
  - decode time and peak RSS of reading the whole capture (in a fresh subprocess, so the
    figure is the reader's own: ru_maxrss of RUSAGE_CHILDREN);
  - messages/s of read_capture vs zlib.decompressobj + orjson.loads over the same frames
    held in memory (paired rounds, median ratio, as bench/codec.py does).
Targets: ratio >= 0.7, peak RSS < 100 MB.

Run: python bench/decode.py [--frames N] [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from codec import message_create

from birbctl.capture.reader import read_capture
from birbctl.capture.writer import CaptureWriter
from birbctl.codec.etf import encode_etf

CHILD = """
import sys, time
from birbctl.capture.reader import read_capture
start = time.perf_counter()
with open(sys.argv[1], "rb", buffering=1 << 16) as fh:
    count = sum(1 for _ in read_capture(fh))
print(count, time.perf_counter() - start)
"""


def make_capture(
    path: Path, frames: int, encoding: str = "json", compress: str = "zlib-stream"
) -> list[bytes]:
    """A capture of `frames` MESSAGE_CREATEs as one connection received them (JSON or
    server-style ETF; zlib-stream or zstd-stream, flushed after each message); returns the
    frames as sent on the wire."""
    rng = random.Random(1)
    if compress == "zlib-stream":
        compressor = zlib.compressobj()

        def pack(message: bytes) -> bytes:
            return compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    else:
        from birbctl.transport.inflate import _zstd_module

        zstd = _zstd_module()
        zcompressor = zstd.ZstdCompressor()

        def pack(message: bytes) -> bytes:
            out: bytes = zcompressor.compress(message, mode=zstd.ZstdCompressor.FLUSH_BLOCK)
            return out

    wire: list[bytes] = []
    with CaptureWriter(
        path,
        url=f"wss://gateway.discord.gg/?v=10&encoding={encoding}&compress={compress}",
        encoding=encoding,
        compress=compress,
    ) as writer:
        writer.opened(1, t=1_700_000_000.0)
        for seq in range(1, frames + 1):
            payload = message_create(rng, seq)
            message = (
                orjson.dumps(payload) if encoding == "json" else encode_etf(payload, style="server")
            )
            frame = pack(message)
            wire.append(frame)
            writer.frame(1, "recv", frame, t=1_700_000_000.0 + seq / 100)
    return wire


def bare(frames: list[bytes]) -> float:
    start = time.perf_counter()
    inflate = zlib.decompressobj()
    loads = orjson.loads
    for frame in frames:
        loads(inflate.decompress(frame))
    return len(frames) / (time.perf_counter() - start)


def ours(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb", buffering=1 << 16) as fh:
        count = sum(1 for _ in read_capture(fh))
    return count / (time.perf_counter() - start)


def child_decode(path: Path) -> tuple[int, float, float]:
    """(messages, seconds, peak RSS in MB) of one decode in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
    )
    count, seconds = result.stdout.split()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return int(count), float(seconds), peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.capture"
        start = time.perf_counter()
        frames = make_capture(path, args.frames)
        written = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        print(
            f"capture: {args.frames:,} MESSAGE_CREATE frames (JSON + zlib-stream), "
            f"{size_mb:.1f} MB, written in {written:.2f} s\n"
        )
        count, seconds, peak = child_decode(path)
        print(f"{'decode (fresh process)':<34} {seconds:>10.2f} s  ({count / seconds:,.0f} msg/s)")
        print(f"{'peak RSS of that process':<34} {peak:>10.1f} MB  (target < 100)\n")
        base_rates, my_rates, ratios = [], [], []
        for _ in range(args.rounds):
            base_rates.append(bare(frames))
            my_rates.append(ours(path))
            ratios.append(my_rates[-1] / base_rates[-1])
        ratio = statistics.median(ratios)
        print(f"{'birbctl read_capture (file)':<34} {statistics.median(my_rates):>10,.0f} msg/s")
        print(f"{'zlib + orjson.loads (memory)':<34} {statistics.median(base_rates):>10,.0f} msg/s")
        print(
            f"{'ratio (median of paired rounds)':<34} {ratio:>10.2f}  "
            f"[min {min(ratios):.2f}, max {max(ratios):.2f}]  (target >= 0.7)"
        )
        best = max(my_rates) / max(base_rates)
        print(f"{'ratio of the best rounds':<34} {best:>10.2f}  (least disturbed by other load)")


if __name__ == "__main__":
    main()
