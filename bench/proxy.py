"""What does `birbctl proxy` add to a dispatch, in latency and in throughput?

One emulator (`birbctl serve`, its own process) streams synthetic events; one proxy
(`python -m birbctl proxy --upstream <the emulator's REST URL>`, its own process) stands
in front of it. This process opens two gateway connections at the same time, one
directly to the emulator and one through the proxy, both zlib-stream JSON with every
intent, on one shard of the same bot: the emulator hands both sessions the same event
object at the same tick (emulator/server.py's traffic loop), so both receive the same
dispatches, byte for byte apart from `s`, whose numbers differ by a constant (the
sessions started at different times). That offset comes from the first MESSAGE_CREATE
of the window (its message id is unique); every dispatch is then paired by `s`, and each
pair is checked to carry the same `t` and `d` bytes (a mismatch is reported). The added
latency is (receive time through the proxy) - (receive time direct), both taken with
time.perf_counter in this one event loop. The receive loop only stamps and keeps each
raw frame; inflating and parsing happen after the window, so the client is not what is
measured. A dispatch not through the proxy within a second of the window counts as
missing (and as infinitely late in the percentiles).

The emulator writes an event to its sessions in the order they identified, so whichever
connection identified first is written, and woken, first. A control round first (`ctrl`:
two direct connections, the second's receive time minus the first's) shows what the
write order alone is worth at that rate (next to nothing here). With the proxy, the
order matters more: the process woken first takes the free core, the other waits for
one. Rounds alternate the order (direct first, proxy first); the report shows both and
their mean, which is the figure to quote.

Throughput: dispatches received per second on each connection over the same window, and
their ratio (proxy / direct). CPU is a share of one core for the emulator, the proxy,
this client and every other process on the machine (a busy neighbour shows there);
`proxy/ev` is the proxy's CPU per relayed dispatch; `waited` is how long each process's
main thread sat runnable without a CPU (ms per second, /proc/PID/schedstat): on a
machine with more work than cores, that wait, not the proxy's own code, is what an
added latency of milliseconds is made of.

Run: python bench/proxy.py [--rates 1000,5000] [--seconds 8] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulator import busy_cpu_seconds, cpu_seconds, percentile
from emulator_process import (
    start_birbctl,
    start_emulator,
    start_python,
    stop_emulator,
    stop_process,
)

from birbctl.protocol.intents import parse_intents

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.bEnChMaRk_not_a_real_token_proxy_0123"
INTENTS = parse_intents("all")  # traffic.py filters on every intent it emits
QUERY = "/?v=10&encoding=json&compress=zlib-stream"
TARGET_P50_MS = 0.5
TARGET_RATIO = 0.8
TARGET_RATE = 5000
SETTLE_S = 1.0  # after both READY: GUILD_CREATEs out, traffic at its steady rate
GRACE_S = 1.0  # after the window: the proxy's copy of the last events may still come
OPEN_TIMEOUT_S = 15.0

_DISPATCH = b'{"op":0,'
_S = len(b'{"op":0,"s":')
_T = b',"t":'
_MESSAGE_CREATE = b',"t":"MESSAGE_CREATE"'


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's main thread spent runnable but waiting for a CPU
    (/proc/PID/schedstat, second field): a busy machine's share of the latency."""
    with open(f"/proc/{pid}/schedstat", "rb") as f:
        return int(f.read().split()[1]) / 1e9


# --- processes -----------------------------------------------------------------------------


def start_proxy(upstream: str, relay: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m birbctl proxy --upstream UPSTREAM`, or with `relay` "bare" the floor
    (bench/bare_proxy.py); (process, its gateway ws:// URL)."""
    if relay == "bare":
        script = str(Path(__file__).resolve().parent / "bare_proxy.py")
        return start_python("the bare relay", script, upstream.removesuffix("/api/v10"))
    return start_birbctl("the proxy", "proxy", "--listen", "127.0.0.1:0", "--upstream", upstream)


# --- the client ----------------------------------------------------------------------------


@dataclass(slots=True)
class Conn:
    """One raw gateway connection: stamps and keeps every frame; decodes only until READY."""

    name: str
    url: str
    frames: list[tuple[float, bytes]] = field(default_factory=list)  # after READY
    inflater: zlib._Decompress = field(default_factory=zlib.decompressobj)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    hello: asyncio.Event = field(default_factory=asyncio.Event)
    interval: float = 41.25
    ws: aiohttp.ClientWebSocketResponse | None = None
    error: str | None = None


async def run_conn(http: aiohttp.ClientSession, conn: Conn) -> None:
    """Connect, identify, then stamp frames until closed."""
    ws = await http.ws_connect(
        conn.url + QUERY, autoping=True, heartbeat=None, max_msg_size=0, compress=0
    )
    conn.ws = ws
    beater: asyncio.Task[None] | None = None
    clock = time.perf_counter
    receive = ws.receive
    binary = aiohttp.WSMsgType.BINARY
    try:
        while not conn.ready.is_set():  # the handshake: inflate as it comes
            msg = await receive()
            if msg.type is not binary:
                raise RuntimeError(f"{conn.name}: {msg.type.name} before READY ({msg.data!r})")
            data = conn.inflater.decompress(msg.data)
            if data.startswith(b'{"op":10,'):
                conn.interval = orjson.loads(data)["d"]["heartbeat_interval"] / 1000
                conn.hello.set()
                beater = asyncio.create_task(heartbeat(ws, conn.interval))
                identify = {
                    "op": 2,
                    "d": {
                        "token": TOKEN,
                        "intents": int(INTENTS),
                        "properties": {"os": "linux", "browser": "bench", "device": "bench"},
                    },
                }
                await ws.send_bytes(orjson.dumps(identify))
            elif data.startswith(_DISPATCH) and data.find(b'"t":"READY"', 0, 40) > 0:
                conn.ready.set()
        frames = conn.frames
        while True:  # the steady state: a stamp and an append per frame, nothing else
            msg = await receive()
            now = clock()
            if msg.type is binary:
                frames.append((now, msg.data))
            else:
                return
    except Exception as exc:  # reported with the round
        conn.error = repr(exc)
        conn.ready.set()
    finally:
        if beater is not None:
            beater.cancel()


async def heartbeat(ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
    """Beat every interval; the first one early (the gateway asks for interval * random)."""
    await asyncio.sleep(interval * 0.1)
    while not ws.closed:
        await ws.send_bytes(b'{"op":1,"d":null}')
        await asyncio.sleep(interval)


def dispatches(conn: Conn) -> list[tuple[float, int, bytes]]:
    """(receive time, `s`, `t` and `d` bytes) of every dispatch after READY, in order."""
    out: list[tuple[float, int, bytes]] = []
    inflate = conn.inflater.decompress
    for when, frame in conn.frames:
        data = inflate(frame)
        if data.startswith(_DISPATCH):
            cut = data.index(_T)
            out.append((when, int(data[_S:cut]), data[cut:]))
    return out


# --- one round -----------------------------------------------------------------------------


@dataclass(slots=True)
class Round:
    rate: int
    proxy_first: bool
    control: bool = False  # two direct connections: what being second in line costs
    wall: float = 0.0
    direct_rate: float = 0.0
    proxy_rate: float = 0.0
    added_ms: list[float] = field(default_factory=list)  # sorted; inf: not through in time
    mismatched: int = 0  # pairs by `s` whose `t` and `d` differ (should be none)
    cpu: dict[str, float] = field(default_factory=dict)
    wait: dict[str, float] = field(default_factory=dict)  # run-queue wait, ms per second
    error: str | None = None

    @property
    def ratio(self) -> float:
        return self.proxy_rate / self.direct_rate if self.direct_rate else float("nan")

    @property
    def proxy_us(self) -> float:
        """The proxy's CPU per dispatch it relayed (it relays nothing else meanwhile)."""
        if self.control or not self.proxy_rate:
            return math.nan
        return self.cpu["proxy"] / self.proxy_rate * 1e6

    @property
    def p50(self) -> float:
        return percentile(self.added_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.added_ms, 0.99)

    @property
    def missing(self) -> int:
        return sum(1 for x in self.added_ms if math.isinf(x))


async def measure(
    rnd: Round, emulator_url: str, proxy_url: str, pids: dict[str, int], seconds: float
) -> None:
    direct = Conn("direct", emulator_url)
    proxied = Conn("direct 2", emulator_url) if rnd.control else Conn("proxy", proxy_url)
    first, second = (proxied, direct) if rnd.proxy_first else (direct, proxied)
    async with aiohttp.ClientSession() as http:
        tasks = [asyncio.create_task(run_conn(http, first))]
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                await first.ready.wait()  # in the emulator's shard group first
                tasks.append(asyncio.create_task(run_conn(http, second)))
                await second.ready.wait()
            for conn in (first, second):
                if conn.error is not None:
                    raise RuntimeError(conn.error)
            await asyncio.sleep(SETTLE_S)
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            wait0 = {name: runqueue_wait_s(pid) for name, pid in pids.items()}
            all0 = busy_cpu_seconds()
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            t1 = time.perf_counter()
            cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            wait1 = {name: runqueue_wait_s(pid) for name, pid in pids.items()}
            all1 = busy_cpu_seconds()
            await asyncio.sleep(GRACE_S)
        except (TimeoutError, RuntimeError) as exc:
            rnd.error = f"{exc!r}"[:120] or "timeout"
            return
        finally:
            for conn in (direct, proxied):
                if conn.ws is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.ws.close(), 3)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)
    wall = rnd.wall = t1 - t0
    rnd.cpu = {name: (cpu1[name] - cpu0[name]) / wall for name in pids}
    rnd.wait = {name: (wait1[name] - wait0[name]) / wall * 1000 for name in pids}
    rnd.cpu["others"] = max(0.0, (all1 - all0) / wall - sum(rnd.cpu.values()))
    d_events, p_events = dispatches(direct), dispatches(proxied)
    rnd.direct_rate = sum(1 for t, _, _ in d_events if t0 <= t <= t1) / wall
    rnd.proxy_rate = sum(1 for t, _, _ in p_events if t0 <= t <= t1) / wall
    window = [(t, seq, key) for t, seq, key in d_events if t0 <= t <= t1]
    through = {seq: (t, key) for t, seq, key in p_events}
    seq_of = {key: seq for _, seq, key in p_events if key.startswith(_MESSAGE_CREATE)}
    anchor = next(((seq, key) for _, seq, key in window if key in seq_of), None)
    if anchor is None:
        rnd.error = "no MESSAGE_CREATE of the window came through the proxy"
        return
    offset = anchor[0] - seq_of[anchor[1]]
    added: list[float] = []
    for when, seq, key in window:
        got = through.get(seq - offset)
        if got is None:
            added.append(math.inf)  # not through the proxy by the end of the grace
        elif got[1] != key:
            rnd.mismatched += 1
        else:
            added.append((got[0] - when) * 1000)
    rnd.added_ms = sorted(added)


def run_rate(
    rate: int, rounds: int, seconds: float, relay: str = "birbctl"
) -> tuple[list[Round], float]:
    """One emulator and one proxy for all of a rate's rounds; (rounds, wall seconds)."""
    started = time.monotonic()
    emu, emu_ws = start_emulator("--event-rate", str(rate), "--seed", "1")
    try:
        upstream = emu_ws.replace("ws://", "http://") + "/api/v10"
        proxy, proxy_ws = start_proxy(upstream, relay)
        try:
            pids = {"emulator": emu.pid, "proxy": proxy.pid, "client": os.getpid()}
            results = []
            for i in range(-1, rounds):  # round -1: the control
                rnd = Round(rate, proxy_first=i % 2 == 1, control=i < 0)
                asyncio.run(measure(rnd, emu_ws, proxy_ws, pids, seconds))
                print(row(rnd), flush=True)
                results.append(rnd)
        finally:
            stop_process(proxy)
    finally:
        stop_emulator(emu)
    return results, time.monotonic() - started


# --- report --------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f">{GRACE_S * 1000:.0f}" if math.isinf(value) else f"{value:.2f}"


HEADER = (
    f"{'rate/s':>7} {'first':>6} {'direct/s':>9} {'proxy/s':>9} {'ratio':>6} "
    f"{'add p50':>8} {'p99':>8} {'max':>8} {'missing':>7} "
    f"{'emu':>5} {'proxy':>5} {'client':>6} {'others':>6} {'proxy/ev':>8} "
    f"{'waited ms/s: emu':>16} {'proxy':>5} {'client':>6}"
)


def row(r: Round) -> str:
    order = "ctrl" if r.control else "proxy" if r.proxy_first else "direct"
    if r.error is not None:
        return f"{r.rate:>7,} {order:>6}  failed: {r.error}"
    c = r.cpu
    per_event = "-" if r.control else f"{r.proxy_us:.0f}us"
    return (
        f"{r.rate:>7,} {order:>6} {r.direct_rate:>9,.0f} {r.proxy_rate:>9,.0f} {r.ratio:>6.3f} "
        f"{ms(r.p50):>6}ms {ms(r.p99):>6}ms {ms(r.added_ms[-1] if r.added_ms else math.nan):>6}ms "
        f"{r.missing + r.mismatched:>7} {100 * c['emulator']:>4.0f}% {100 * c['proxy']:>4.0f}% "
        f"{100 * c['client']:>5.0f}% {100 * c['others']:>5.0f}% {per_event:>8} "
        f"{r.wait['emulator']:>16.0f} {r.wait['proxy']:>5.0f} {r.wait['client']:>6.0f}"
    )


def spread(values: list[float], unit: str = "", digits: int = 3) -> str:
    """median X unit [min, max] of the rounds."""
    if not values:
        return "n/a"
    fmt = ms if unit == " ms" else (lambda v: f"{v:.{digits}f}")
    return (
        f"median {fmt(statistics.median(values))}{unit} "
        f"[min {fmt(min(values))}, max {fmt(max(values))}]"
    )


def summary(rate: int, rounds: list[Round]) -> None:
    ok = [r for r in rounds if r.error is None and not r.control]
    print(f"at {rate:,} events/s requested ({len(ok)} of {len(rounds) - 1} rounds ran):")
    for r in rounds:
        if r.control and r.error is None:
            print(
                f"  control, two direct connections, second minus first: "
                f"p50 {ms(r.p50)} ms, p99 {ms(r.p99)} ms (the emulator's write order alone)"
            )
    if not ok:
        return
    print(
        f"  throughput proxy/direct, same window: {spread([r.ratio for r in ok])} "
        f"(target >= {TARGET_RATIO} at {TARGET_RATE:,}/s)"
    )
    for label, pick in (("direct first", False), ("proxy first", True)):
        some = [r for r in ok if r.proxy_first is pick]
        if some:
            print(
                f"  added p50, {label:<12} {spread([r.p50 for r in some], ' ms')}; "
                f"p99 {spread([r.p99 for r in some], ' ms')}"
            )
    by_order = [
        statistics.median([r.p50 for r in ok if r.proxy_first is pick])
        for pick in (False, True)
        if any(r.proxy_first is pick for r in ok)
    ]
    pooled = sorted(x for r in ok for x in r.added_ms)
    print(
        f"  added p50, both orders' mean {ms(statistics.mean(by_order))} ms "
        f"(target < {TARGET_P50_MS} ms); all {len(pooled):,} pairs pooled: "
        f"p50 {ms(percentile(pooled, 0.5))} ms, p99 {ms(percentile(pooled, 0.99))} ms"
    )
    print(
        f"  proxy CPU per relayed dispatch: {spread([r.proxy_us for r in ok], ' us', 0)}; "
        f"other processes' CPU: {spread([100 * r.cpu['others'] for r in ok], '%', 0)} "
        "of a core"
    )
    print(
        "  the proxy waited for a CPU (run queue, ms per second): "
        f"{spread([r.wait['proxy'] for r in ok], ' ms/s', 0)}"
    )
    lost = sum(r.missing for r in ok)
    wrong = sum(r.mismatched for r in ok)
    if lost or wrong:
        print(
            f"  {lost} dispatches not through the proxy within {GRACE_S:g} s of the window, "
            f"{wrong} paired by s with other content"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,5000", help="events/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="window per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per rate (orders alternate)")
    parser.add_argument(
        "--relay",
        choices=("birbctl", "bare"),
        default="birbctl",
        help="what stands in the middle: birbctl proxy, or the floor (bench/bare_proxy.py)",
    )
    args = parser.parse_args()
    rates = [int(x) for x in args.rates.split(",") if x.strip()]
    load = os.getloadavg()
    middle = "`birbctl proxy --upstream <emulator>`"
    if args.relay == "bare":
        middle = "bench/bare_proxy.py"
    print(
        f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"emulator: one `birbctl serve --event-rate R` process; proxy: one {middle} process; "
        f"client: this process, two connections (direct, through the proxy), zlib-stream "
        f"JSON, all intents; window {args.seconds:g} s, "
        f"{args.rounds} rounds per rate"
    )
    print(f"command: python bench/proxy.py {' '.join(sys.argv[1:])}".rstrip())
    print(HEADER, flush=True)
    started = time.monotonic()
    results: dict[int, list[Round]] = {}
    for rate in rates:
        results[rate], _ = run_rate(rate, args.rounds, args.seconds, args.relay)
    print(f"({time.monotonic() - started:.0f} s)")
    for rate, rounds in results.items():
        summary(rate, rounds)
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
