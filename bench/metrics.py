"""What `--metrics` costs the live receive path: frames in, payloads to the session and
the monitor, with metrics off and on, one run.

The path is the Websocket's own reader (`Websocket._read`, fed from an in-memory
connection instead of a socket, so loopback and the kernel do not drown the difference)
for a READY shard with its ShardMonitor, as `birbctl connect` runs it. On: the monitor
meters bytes (adds up its readers' byte counts) and a real endpoint is served (prometheus_client's
HTTP server on its thread, over the ShardCollector), which another process (Prometheus'
part) scrapes once during every round that has metrics on (a round is well under a
second: a scrape interval far shorter than any real one). Off: the same shard without
either.

Prints messages/s for each and the ratio on / off (paired rounds, median ratio), as
bench/codec.py does, on MESSAGE_CREATE-sized payloads (JSON, zlib-stream): per CPU
second of the whole process (the scrape thread's CPU included), the headline, which
other processes on a shared machine disturb far less; and per wall-clock second.

Last run (2 cores, load average 0.7): per CPU second 0.960 on/off (median of 21 paired
rounds), per wall-clock second 0.966. Every connection's reader counts its bytes (a C
counter, or two additions in the Python twin), so on and off read frames alike; what
`--metrics` adds is a scrape, 1.3 to 3 ms of CPU (prometheus_client's formatting and
HTTP, for one shard), and the sent side's count. The spread of single rounds (0.8 to
1.2) is the machine's neighbours; the medians repeat within about 0.02.

Run: python bench/metrics.py [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from codec import message_create, zlib_frames

from birbctl.client.monitor import ShardMonitor
from birbctl.client.websocket import Websocket, _Connection
from birbctl.metrics.address import MetricsAddress
from birbctl.metrics.collector import LoopBridge, ShardCollector
from birbctl.metrics.endpoint import MetricsEndpoint
from birbctl.protocol.wire import Compression, Encoding

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.bEnChMaRk_not_a_real_token_0123456789"
URL = "ws://127.0.0.1:1/"
#: Frames per turn of the event loop (a socket read brings in several at a time).
YIELD_EVERY = 64


class _NoClose:
    close_rcvd = None
    close_sent = None


class MemoryConnection:
    """The part of websockets' ClientConnection the reader uses: frames, then the end."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.protocol = _NoClose()

    async def _frames(self) -> AsyncIterator[bytes]:
        for i, frame in enumerate(self.frames):
            if not i % YIELD_EVERY:
                await asyncio.sleep(0)  # a socket read: the loop runs its callbacks
            yield frame

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()


def ready_shard(metered: bool) -> tuple[Websocket, ShardMonitor, _Connection]:
    """A shard READY on a connection whose socket is in memory (nothing is opened)."""
    ws = Websocket(TOKEN, intents=513, gateway_url=URL, shard=(0, 1))
    monitor = ShardMonitor(ws)
    if metered:
        monitor.meter_bytes()
    session = ws.session
    session.connect()
    conn = _Connection(1, URL, ws.make_reader(Encoding.JSON, Compression.ZLIB_STREAM))
    ws._conn = conn
    for action in session.actions():  # at OpenConnection the monitor swaps the reader
        for listener in ws._listeners:
            listener(ws, action)
    session.connection_opened()
    session.receive_payload({"op": 10, "d": {"heartbeat_interval": 41250}})
    ready = {"session_id": "bench", "resume_gateway_url": URL, "guilds": []}
    session.receive_payload({"op": 0, "t": "READY", "s": 1, "d": ready})
    ws._perform()
    conn.reported = True  # the end of the frames must not start a reconnect
    return ws, monitor, conn


async def one_round(frames: list[bytes], scraper: Scraper | None) -> tuple[float, float]:
    """One pass over `frames`; with `scraper`, metrics on and one scrape during it.
    (messages per wall-clock second, messages per CPU second of this process)."""
    metered = scraper is not None
    ws, monitor, conn = ready_shard(metered)
    conn.ws = MemoryConnection(frames)  # type: ignore[assignment]
    endpoint = None
    if metered:
        bridge = LoopBridge(asyncio.get_running_loop())
        collector = ShardCollector(lambda: [monitor.metrics_sample()], bridge=bridge)
        endpoint = MetricsEndpoint(MetricsAddress("127.0.0.1", 0), "bench", [collector])
        endpoint.start()
    try:
        gc.collect()  # neither side pays for the other's garbage
        start, cpu_start = time.perf_counter(), time.process_time()
        if scraper is not None and endpoint is not None:
            scraper.ask(endpoint.url)
        await ws._read(conn)
        if scraper is not None:  # the scrape's CPU counts, even if it ends after the frames
            while not scraper.done():
                await asyncio.sleep(0.001)
        cpu = time.process_time() - cpu_start
        elapsed = time.perf_counter() - start
    finally:
        if endpoint is not None:
            endpoint.close()
    assert ws.session.counters.dispatches == len(frames) + 1, "frames went missing"
    if metered:
        sample = monitor.metrics_sample()
        assert sample.received_wire_bytes == sum(map(len, frames))
    return len(frames) / elapsed, len(frames) / cpu


class Scraper:
    """Prometheus' part, in another process (so its HTTP client's CPU is not counted as
    birbctl's): told a URL on stdin, it waits 20 ms, scrapes it and answers a line."""

    SCRIPT = (
        "import sys, time, urllib.request\n"
        "for url in sys.stdin:\n"
        "    time.sleep(0.02)\n"
        "    body = urllib.request.urlopen(url.strip(), timeout=10).read()\n"
        "    ok = b'birbctl_shard_events_total' in body\n"
        "    sys.stdout.write(('ok' if ok else 'bad') + '\\n'); sys.stdout.flush()\n"
    )

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._answer: threading.Event = threading.Event()
        self._pending = False

    def ask(self, url: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._answer.clear()
        self.proc.stdin.write(url + "\n")
        self.proc.stdin.flush()
        stdout = self.proc.stdout

        def read() -> None:
            answer = stdout.readline().strip()
            assert answer == "ok", f"the scrape answered {answer!r}"
            self._answer.set()

        threading.Thread(target=read, daemon=True).start()

    def done(self) -> bool:
        return self._answer.is_set()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


async def compare(frames: list[bytes], rounds: int) -> float:
    """Paired rounds; returns the median ratio of CPU throughput, on / off."""
    walls: dict[bool, list[float]] = {True: [], False: []}
    cpus: dict[bool, list[float]] = {True: [], False: []}
    wall_ratios, cpu_ratios = [], []
    scraper = Scraper()
    try:
        for i in range(rounds):
            # Alternate which goes first, so neither always meets a warmer cache.
            order = (True, False) if i % 2 else (False, True)
            for metered in order:
                wall, cpu = await one_round(frames, scraper if metered else None)
                walls[metered].append(wall)
                cpus[metered].append(cpu)
            wall_ratios.append(walls[True][-1] / walls[False][-1])
            cpu_ratios.append(cpus[True][-1] / cpus[False][-1])
    finally:
        scraper.close()
    for label, rates, ratios in (
        ("per CPU second", cpus, cpu_ratios),
        ("per wall-clock second", walls, wall_ratios),
    ):
        print(f"messages {label}:")
        print(f"  {'--metrics on':<32} {statistics.median(rates[True]):>10,.0f} (median)")
        print(f"  {'--metrics off':<32} {statistics.median(rates[False]):>10,.0f} (median)")
        print(
            f"  {'ratio on/off (median of rounds)':<32} {statistics.median(ratios):>10.3f}  "
            f"[min {min(ratios):.3f}, max {max(ratios):.3f}]"
        )
        best = max(rates[True]) / max(rates[False])
        print(f"  {'ratio on/off (best of each)':<32} {best:>10.3f}")
    return statistics.median(cpu_ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()

    rng = random.Random(1)
    payloads = [message_create(rng, seq) for seq in range(2, args.messages + 2)]
    frames = zlib_frames([orjson.dumps(p) for p in payloads])
    print(
        f"{args.messages} MESSAGE_CREATE frames (JSON, zlib-stream, "
        f"{sum(map(len, frames)) / len(frames):.0f} B each); {args.rounds} paired rounds, "
        "one scrape during every round with metrics on\n"
    )
    asyncio.run(compare(frames, args.rounds))


if __name__ == "__main__":
    main()
