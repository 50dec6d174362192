"""Is the ping birbctl reports the real heartbeat round trip?

The emulator (`birbctl serve`, its own process) delays every heartbeat ACK by 50 ms and
streams 1,000 events/s to the shard. In the same run, a second connection measures the
bare loopback round trip (websocket ping/pong, answered by the emulator's websocket
layer at once). Expected ping = injected delay + loopback round trip; the error is the
difference between that and the median ping birbctl reports.

Run: python bench/ping.py [--seconds 30] [--delay-ms 50] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulator_process import start_emulator, stop_emulator

from birbctl.client.websocket import Websocket
from birbctl.protocol.events import Action, DispatchReceived, HeartbeatAcked
from birbctl.protocol.intents import parse_intents

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.bEnChMaRkToKeN_not_a_real_one_012345"


async def loopback_rtts(url: str, stop: asyncio.Event) -> list[float]:
    """Websocket ping/pong on a second connection; it heartbeats (op 1) so the gateway
    keeps it open, and never identifies, so no fault applies to it."""
    samples: list[float] = []
    async with connect(
        url + "/?v=10&encoding=json", compression=None, max_size=None, max_queue=None
    ) as ws:
        last_beat = 0.0
        while not stop.is_set():
            if time.monotonic() - last_beat > 0.6:  # under 120 sends/60 s, inside 1.5 intervals
                await ws.send('{"op":1,"d":null}')
                last_beat = time.monotonic()
            start = time.perf_counter()
            pong = await ws.ping()
            await pong
            samples.append((time.perf_counter() - start) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
    return samples


async def measure(url: str, seconds: float) -> tuple[list[float], list[float], int]:
    pings: list[float] = []
    events = 0

    def listen(ws: Websocket, action: Action) -> None:
        nonlocal events
        if isinstance(action, HeartbeatAcked) and action.rtt_ms is not None:
            pings.append(action.rtt_ms)
        elif isinstance(action, DispatchReceived):
            events += 1

    # Every intent, so the shard gets every synthetic event the emulator sends.
    shard = Websocket(TOKEN, intents=parse_intents("all"), gateway_url=url)
    shard.add_listener(listen)
    stop = asyncio.Event()
    run = asyncio.create_task(shard.run())
    loopback = asyncio.create_task(loopback_rtts(url, stop))
    await asyncio.sleep(seconds)
    stop.set()
    shard.close()
    async with asyncio.timeout(10):
        await run
        rtts = await loopback
    return pings[1:], rtts, events  # the first beat may race the fault's start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--delay-ms", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--interval-ms", type=int, default=1000)
    args = parser.parse_args()
    proc, url = start_emulator(
        "--heartbeat-interval", str(args.interval_ms), "--event-rate", str(args.rate),
        "--fault", f"at=0 action=ack_delay ms={args.delay_ms}",
    )  # fmt: skip
    try:
        pings, rtts, events = asyncio.run(measure(url, args.seconds))
    finally:
        stop_emulator(proc)
    reported = statistics.median(pings)
    loopback = statistics.median(rtts)
    expected = args.delay_ms + loopback
    error = reported - expected
    print(
        f"events received           {events} in {args.seconds:g} s ({events / args.seconds:,.0f}/s)"
    )
    print(f"heartbeats (ACKed)        {len(pings)} every {args.interval_ms} ms")
    print(f"injected ACK delay        {args.delay_ms:.1f} ms")
    print(f"loopback round trip       {loopback:.2f} ms (median of {len(rtts)} ws pings)")
    print(f"expected ping             {expected:.2f} ms")
    p95 = sorted(pings)[int(len(pings) * 0.95)]
    print(f"birbctl ping (median)     {reported:.2f} ms  [p95 {p95:.2f}]")
    print(f"error                     {error:+.2f} ms (target: within ±5 ms)")


if __name__ == "__main__":
    main()
