"""How many concurrent sessions and events/s does one emulator process sustain?

`birbctl serve` runs as its own process; this process drives N raw gateway clients on
loopback (websockets' asyncio client, zlib-stream, JSON, every intent). Each client
identifies, heartbeats on the HELLO interval, inflates every frame with its own zlib
context and counts dispatches; ACK round trips are timed per session.

All sessions of one shard see the same synthetic events and `--event-rate` is per
session, so a step with N sessions and a total target T runs the emulator with
`--event-rate T/N`. Steps ramp N (100, 250, 500, 750, 1000 by default), each on a fresh
emulator, measuring a steady window once every session is READY. A step sustains when
the events/s received reach 95% of the target, every session got a heartbeat ACK in the
window, none was closed by the server, and ACK p99 is under 1 s. The ramp stops at the
first step that fails (each target runs its own ramp).

Columns: events/s received in total (and the least any one session got); heartbeat ACK
round trips in the window (p50, p99, max); sessions with no ACK in the window (starved);
sessions the server closed; CPU as a share of one core for the emulator, for this load
process and for every other process on the machine (a busy neighbour shows there), so a
reader can tell which side saturated; the emulator's RSS; seconds to open and READY
every session.

Run: python bench/emulator.py [--sessions 100,250,500,750,1000] [--targets 10000]
                              [--window 8] [--interval-ms 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulator_process import start_emulator, stop_emulator

from birbctl.protocol.intents import parse_intents

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.bEnChMaRk_not_a_real_token_0123456789"
INTENTS = parse_intents("all")  # traffic.py filters on every intent it emits
TARGET_SESSIONS = 500
TARGET_EVENTS = 10_000
SUSTAIN_SHARE = 0.95
MAX_ACK_P99_MS = 1000.0
CONNECT_BATCH = 50
CONNECT_TIMEOUT_S = 45.0
SETTLE_S = 1.5
NOFILE_WANTED = 8192
CLK_TCK = os.sysconf("SC_CLK_TCK")

_ACK = b'{"op":11,'
_DISPATCH = b'{"op":0,'
_HELLO = b'{"op":10,'


def raise_nofile(wanted: int) -> int:
    """Each session is a socket on both sides; children inherit the raised soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` from /proc (fields 14 and 15, after the command name)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def busy_cpu_seconds() -> float:
    """CPU seconds all cores spent busy, from /proc/stat (to see other processes' load)."""
    with open("/proc/stat", "rb") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / CLK_TCK


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --- the emulator process ------------------------------------------------------------------


# --- the load side -------------------------------------------------------------------------


@dataclass(slots=True)
class Client:
    """One raw gateway client: counts, never decodes dispatches (a byte test per frame)."""

    index: int
    interval: float = 0.0
    events: int = 0
    ready: bool = False
    beat_sent: float | None = None
    acks: list[tuple[float, float]] = field(default_factory=list)  # (when, rtt s)
    closed_by_server: int | None = None
    error: str | None = None
    ws: ClientConnection | None = None


class Load:
    """N clients against one emulator, with a window to measure in."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url + "/?v=10&encoding=json&compress=zlib-stream"
        self.clients = [Client(i) for i in range(count)]
        self.stopping = False
        self.tasks: list[asyncio.Task[None]] = []
        self.all_ready = asyncio.Event()
        self._ready = 0

    async def run_client(self, client: Client, opened: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        inflate = zlib.decompressobj().decompress
        try:
            ws = await connect(
                self.url,
                compression=None,
                ping_interval=None,
                max_size=None,
                close_timeout=1,
                open_timeout=CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError, ConnectionClosed) as exc:
            client.error = f"connect: {exc!r}"
            opened.set()
            return
        client.ws = ws
        beater: asyncio.Task[None] | None = None
        try:
            hello = inflate(await ws.recv(decode=False))
            if not hello.startswith(_HELLO):
                raise RuntimeError(f"expected HELLO, got {hello[:40]!r}")
            client.interval = orjson.loads(hello)["d"]["heartbeat_interval"] / 1000
            beater = asyncio.create_task(self.heartbeat(client, ws))
            identify = {
                "op": 2,
                "d": {
                    "token": TOKEN,
                    "intents": int(INTENTS),
                    "properties": {"os": "linux", "browser": "bench", "device": "bench"},
                },
            }
            await ws.send(orjson.dumps(identify).decode())
            opened.set()
            async for frame in ws:
                assert isinstance(frame, bytes)
                data = inflate(frame)
                if data.startswith(_DISPATCH):
                    client.events += 1
                    if not client.ready and data.find(b'"t":"READY"', 0, 40) > 0:
                        client.ready = True
                        self._ready += 1
                        if self._ready == len(self.clients):
                            self.all_ready.set()
                elif data.startswith(_ACK):
                    sent = client.beat_sent
                    if sent is not None:
                        now = loop.time()
                        client.acks.append((now, now - sent))
                        client.beat_sent = None
        except ConnectionClosed as exc:
            if not self.stopping:
                rcvd = exc.rcvd
                client.closed_by_server = rcvd.code if rcvd is not None else 1006
        except Exception as exc:  # reported per client; the run goes on
            if not self.stopping:
                client.error = repr(exc)
        finally:
            opened.set()
            if beater is not None:
                beater.cancel()

    async def heartbeat(self, client: Client, ws: ClientConnection) -> None:
        """First beat after interval * random(), then every interval (the gateway's rule)."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(client.interval * random.random())
        while not self.stopping:
            client.beat_sent = loop.time()
            try:
                await ws.send('{"op":1,"d":null}')
            except ConnectionClosed:
                return  # the reader records why
            await asyncio.sleep(client.interval)

    async def open_all(self) -> None:
        """Open in batches: each batch's sockets are up and identified before the next."""
        for start in range(0, len(self.clients), CONNECT_BATCH):
            batch = self.clients[start : start + CONNECT_BATCH]
            opened = [asyncio.Event() for _ in batch]
            for client, event in zip(batch, opened, strict=True):
                self.tasks.append(asyncio.create_task(self.run_client(client, event)))
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), CONNECT_TIMEOUT_S)

    async def close_all(self) -> None:
        self.stopping = True
        for client in self.clients:
            if client.ws is not None and client.ws.transport is not None:
                client.ws.transport.abort()
        for task in self.tasks:
            task.cancel()
        await asyncio.wait(self.tasks, timeout=5)


# --- one step ------------------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    sessions: int
    target: int
    rate: float
    ready: int = 0
    achieved: float = 0.0
    min_session_rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    starved: int = 0
    closed: int = 0
    errors: int = 0
    emu_cpu: float = 0.0
    load_cpu: float = 0.0
    others_cpu: float = 0.0
    emu_rss: float = 0.0
    open_s: float = 0.0
    note: str = ""

    @property
    def sustained(self) -> bool:
        return (
            not self.note
            and self.ready == self.sessions
            and self.achieved >= SUSTAIN_SHARE * self.target
            and self.starved == 0
            and self.closed == 0
            and self.errors == 0
            and self.p99_ms < MAX_ACK_P99_MS
        )


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


async def measure(url: str, emu_pid: int, step: Step, window: float) -> None:
    loop = asyncio.get_running_loop()
    load = Load(url, step.sessions)
    opening = loop.time()
    try:
        try:
            await load.open_all()
            await asyncio.wait_for(load.all_ready.wait(), CONNECT_TIMEOUT_S)
        except TimeoutError:
            step.note = "not all READY in time"
        step.ready = load._ready
        step.open_s = loop.time() - opening
        if step.note:
            return
        await asyncio.sleep(SETTLE_S)  # GUILD_CREATEs out, traffic at its steady rate
        events0 = [c.events for c in load.clients]
        emu0, me0, all0 = cpu_seconds(emu_pid), cpu_seconds(os.getpid()), busy_cpu_seconds()
        t0 = loop.time()
        await asyncio.sleep(window)
        emu1, me1, all1 = cpu_seconds(emu_pid), cpu_seconds(os.getpid()), busy_cpu_seconds()
        t1 = loop.time()
        events1 = [c.events for c in load.clients]
        step.emu_rss = rss_mib(emu_pid)
    finally:
        await load.close_all()
    wall = t1 - t0
    got = [b - a for a, b in zip(events0, events1, strict=True)]
    step.achieved = sum(got) / wall
    step.min_session_rate = min(got) / wall
    rtts = sorted(rtt * 1000 for c in load.clients for when, rtt in c.acks if t0 <= when <= t1)
    step.p50_ms, step.p99_ms = percentile(rtts, 0.50), percentile(rtts, 0.99)
    step.max_ms = rtts[-1] if rtts else float("nan")
    step.starved = sum(1 for c in load.clients if not any(t0 <= w <= t1 for w, _ in c.acks))
    step.closed = sum(1 for c in load.clients if c.closed_by_server is not None)
    step.errors = sum(1 for c in load.clients if c.error is not None)
    step.emu_cpu = (emu1 - emu0) / wall
    step.load_cpu = (me1 - me0) / wall
    step.others_cpu = max(0.0, (all1 - all0) / wall - step.emu_cpu - step.load_cpu)
    if step.errors and not step.note:
        first = next(c.error for c in load.clients if c.error is not None)
        step.note = f"first error: {first[:60]}"


def run_step(sessions: int, target: int, window: float, interval_ms: int) -> Step:
    step = Step(sessions, target, target / sessions)
    proc, url = start_emulator(
        "--heartbeat-interval", str(interval_ms), "--event-rate", f"{step.rate:g}", "--seed", "1"
    )
    try:
        asyncio.run(measure(url, proc.pid, step, window))
    finally:
        stop_emulator(proc)
    return step


# --- report --------------------------------------------------------------------------------

HEADER = (
    f"{'sessions':>8} {'target/s':>9} {'rate/sess':>9} {'events/s':>9} {'%':>5} "
    f"{'min/sess':>8} {'ack p50':>8} {'p99':>7} {'max':>7} {'starved':>7} {'closed':>6} "
    f"{'emu cpu':>7} {'load cpu':>8} {'others':>6} {'emu rss':>7} {'open':>5}  ok"
)


def row(s: Step) -> str:
    share = 100 * s.achieved / s.target if s.target else 0.0
    line = (
        f"{s.sessions:>8} {s.target:>9,} {s.rate:>9.1f} {s.achieved:>9,.0f} {share:>5.1f} "
        f"{s.min_session_rate:>8.1f} {s.p50_ms:>6.1f}ms {s.p99_ms:>5.0f}ms {s.max_ms:>5.0f}ms "
        f"{s.starved:>7} {s.closed:>6} {100 * s.emu_cpu:>6.0f}% {100 * s.load_cpu:>7.0f}% "
        f"{100 * s.others_cpu:>5.0f}% {s.emu_rss:>5.0f}Mi {s.open_s:>4.1f}s  "
        f"{'yes' if s.sustained else 'NO'}"
    )
    if s.note:
        line += f"  ({s.note}; {s.ready}/{s.sessions} READY)"
    return line


def parse_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="100,250,500,750,1000", help="ramp, comma-separated")
    parser.add_argument(
        "--targets",
        default=f"{TARGET_EVENTS},{2 * TARGET_EVENTS}",
        help="total events/s per step, comma-separated; each runs its own ramp",
    )
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per step")
    parser.add_argument("--interval-ms", type=int, default=5000, help="heartbeat interval")
    args = parser.parse_args()
    sessions, targets = parse_ints(args.sessions), parse_ints(args.targets)
    if args.window < 1.2 * args.interval_ms / 1000:
        # Shorter, and a session may send no heartbeat in the window: "starved" by design.
        parser.error("--window must be at least 1.2 heartbeat intervals")
    nofile = raise_nofile(max(NOFILE_WANTED, 2 * max(sessions) + 256))
    print(
        f"{os.cpu_count()} cores; emulator: one `birbctl serve --heartbeat-interval "
        f"{args.interval_ms}` process; load: this process, zlib-stream JSON, all intents; "
        f"window {args.window:g} s; fd limit {nofile}"
    )
    print(HEADER, flush=True)
    best: dict[int, Step] = {}
    started = time.monotonic()
    for target in targets:
        for count in sessions:
            step = run_step(count, target, args.window, args.interval_ms)
            print(row(step), flush=True)
            if not step.sustained:
                break
            best[target] = step
    print(f"({time.monotonic() - started:.0f} s)")
    if not best:
        print(f"sustained: none (target {TARGET_SESSIONS} sessions, {TARGET_EVENTS:,} events/s)")
        return
    for target, step in best.items():
        print(
            f"at {target:,} events/s: up to {step.sessions} sessions "
            f"({step.achieved:,.0f} events/s received)"
        )
    top = max(best.values(), key=lambda s: (s.sessions, s.achieved))
    print(
        f"sustained: {top.sessions} sessions, {top.achieved:,.0f} events/s "
        f"(target {TARGET_SESSIONS} sessions, {TARGET_EVENTS:,} events/s)"
    )


if __name__ == "__main__":
    main()
