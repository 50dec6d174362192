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


def run(seconds: float, delay_ms: int, rate: float, interval_ms: int) -> dict[str, float]:
    """One measurement on a fresh emulator: the reported ping against the expected one."""
    proc, url = start_emulator(
        "--heartbeat-interval", str(interval_ms), "--event-rate", str(rate),
        "--fault", f"at=0 action=ack_delay ms={delay_ms}",
    )  # fmt: skip
    try:
        pings, rtts, events = asyncio.run(measure(url, seconds))
    finally:
        stop_emulator(proc)
    reported = statistics.median(pings)
    loopback = statistics.median(rtts)
    expected = delay_ms + loopback
    return {
        "events": events,
        "events_per_s": events / seconds,
        "heartbeats": len(pings),
        "loopback_ms": loopback,
        "loopback_samples": len(rtts),
        "expected_ms": expected,
        "reported_ms": reported,
        "p95_ms": sorted(pings)[int(len(pings) * 0.95)],
        "error_ms": reported - expected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--delay-ms", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--interval-ms", type=int, default=1000)
    args = parser.parse_args()
    got = run(args.seconds, args.delay_ms, args.rate, args.interval_ms)
    print(
        f"events received           {got['events']:.0f} in {args.seconds:g} s "
        f"({got['events_per_s']:,.0f}/s)"
    )
    print(f"heartbeats (ACKed)        {got['heartbeats']:.0f} every {args.interval_ms} ms")
    print(f"injected ACK delay        {args.delay_ms:.1f} ms")
    print(
        f"loopback round trip       {got['loopback_ms']:.2f} ms "
        f"(median of {got['loopback_samples']:.0f} ws pings)"
    )
    print(f"expected ping             {got['expected_ms']:.2f} ms")
    print(f"birbctl ping (median)     {got['reported_ms']:.2f} ms  [p95 {got['p95_ms']:.2f}]")
    print(f"error                     {got['error_ms']:+.2f} ms (target: within ±5 ms)")


if __name__ == "__main__":
    main()
