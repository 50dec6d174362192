"""Chaos soak: several shards of birbctl's own client against the emulator, with faults
at random times, at every point of the handshake and in bursts.

The emulator (in this process, on 127.0.0.1) streams numbered dispatches to every
shard. Faults come from two sides: the emulator's chaos mode strikes handshake points
(before HELLO, after HELLO while an IDENTIFY may wait for its slot, right after
IDENTIFY, right after RESUME) and live sessions; this driver also strikes READY shards
itself, sometimes twice in a row (a burst), and sometimes from the client side
(`terminate`, a dropped TCP connection). Every shard shares one identify gate with
max_concurrency 1, so the identify limit matters.

It reports per shard: faults, recovery episodes, reconnects, resumes, re-identifies,
dispatches, lost and duplicated sequence numbers (per gateway session), and how long
each recovery took against what the gateway's rules required (see soak_ledger.py);
IDENTIFYs sent sooner than the identify limit allows (as the client sent them and as
the emulator received them); and memory and open file descriptors at the start and end
of the run, to show they stay flat.

Memory: the emulator runs in this process and, as Discord does, keeps a dropped session
resumable for 3 minutes with up to 2,000 dispatches to replay, so RSS climbs for the
first minutes and then levels off; the once-a-minute samples show where.

Backoff is shortened (base 0.1 s, cap 2 s) and the HELLO timeout is 2 s so that
hundreds of faults fit in minutes; the identify limit (5 s per bucket) and op 9's 1-5 s
wait are the gateway's and stay as they are.

Run: python bench/soak.py --minutes 30 [--shards 2] [--seed 1] [--rate 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak_ledger import ShardLedger, identify_spacing_violations

from birbctl.client.websocket import Websocket, WireEvent
from birbctl.emulator.chaos import ChaosConfig
from birbctl.emulator.config import EmulatorConfig
from birbctl.emulator.faults import Fault
from birbctl.emulator.server import EmulatorServer
from birbctl.protocol.events import Action
from birbctl.protocol.identify import DRIVER_MARGIN, IdentifyGate
from birbctl.protocol.status import GatewayStatus

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.sOaK_not_a_real_token_0123456789abcdef"
#: What a recovery may take beyond what the rules require.
ALLOWED_OVERHEAD_S = 2.0

#: Faults this driver deals to READY shards: (weight, name, fault or None for a client-side
#: terminate, hidden). Mostly faults that resume, a few that end the session.
LIVE_FAULTS: list[tuple[int, str, Fault | None, bool]] = [
    (24, "op7", Fault("reconnect"), False),
    (24, "drop", Fault("drop"), False),
    (20, "close_4000", Fault("close", code=4000), False),
    (16, "op9_resumable", Fault("invalid_session", resumable=True), False),
    (12, "corrupt", Fault("corrupt"), False),
    (12, "terminate", None, False),
    (4, "zombie", Fault("zombie"), True),
    (2, "stall_3s", Fault("stall", seconds=3.0), True),
    (1, "close_4009", Fault("close", code=4009), False),
    (1, "op9_fresh", Fault("invalid_session", resumable=False), False),
]
#: Faults the emulator's chaos mode deals at handshake points, repeated by weight (chaos
#: picks uniformly): mostly ones that resume; a missing HELLO or READY (stall) now and
#: then; rarely one that ends the session, since each costs op 9's 1-5 s plus the
#: identify window shared by every shard.
HANDSHAKE_FAULTS = (
    *[Fault("drop")] * 24,
    *[Fault("close", code=4000)] * 18,
    *[Fault("reconnect")] * 18,
    *[Fault("invalid_session", resumable=True)] * 15,
    *[Fault("stall", seconds=3.0)] * 4,
    Fault("invalid_session", resumable=False),
)
#: Where they strike: before HELLO, right after IDENTIFY, right after RESUME. The fourth
#: point, while an IDENTIFY waits for its slot, this driver strikes itself (a chaos draw
#: for "hello" hits at once whichever shard waits, up to 5 s, so a shard that must
#: re-identify would hardly ever get through).
HANDSHAKE_TRIGGERS = ("connect", "identify", "resume")
#: Chance that a shard whose IDENTIFY waits for its slot is struck during that wait.
SLOT_WAIT_STRIKE = 0.25


@dataclass
class SoakResult:
    seconds: float
    ledgers: list[ShardLedger]
    server_faults: int
    client_identify_violations: list[tuple[int, float, float]]
    server_identify_violations: int
    rss_kb: tuple[int, int]
    #: RSS (KiB) sampled once a minute while faults were dealt: flat means a plateau.
    rss_by_minute: list[int]
    fds: tuple[int, int]
    all_ready_at_end: bool
    slow: list[dict[str, Any]] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return sum(ledger.faults for ledger in self.ledgers)

    @property
    def lost(self) -> int:
        return sum(ledger.lost for ledger in self.ledgers)

    @property
    def duplicated(self) -> int:
        return sum(ledger.duplicated for ledger in self.ledgers)

    @property
    def worst_overhead(self) -> float:
        return max((e.overhead for lg in self.ledgers for e in lg.episodes), default=0.0)

    def table(self) -> str:
        rows = [ledger.summary() for ledger in self.ledgers]
        keys = list(rows[0])
        lines = [" | ".join(keys), " | ".join("---" for _ in keys)]
        for row in rows:
            lines.append(
                " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values())
            )
        return "\n".join(lines)

    def report(self) -> str:
        return "\n".join(
            [
                f"soak: {self.seconds:.0f} s, {len(self.ledgers)} shards, {self.faults} faults "
                f"({self.server_faults} dealt by the emulator, the rest by this driver)",
                self.table(),
                f"lost {self.lost}, duplicated {self.duplicated}; worst recovery overhead "
                f"{self.worst_overhead:.2f} s (allowed {ALLOWED_OVERHEAD_S:g} s)",
                "IDENTIFYs sooner than the identify limit: client "
                f"{len(self.client_identify_violations)}, emulator saw "
                f"{self.server_identify_violations}",
                f"RSS {self.rss_kb[0] / 1024:.1f} -> {self.rss_kb[1] / 1024:.1f} MiB "
                f"(by minute: {' '.join(f'{kb / 1024:.0f}' for kb in self.rss_by_minute)}), "
                f"open fds {self.fds[0]} -> {self.fds[1]}",
                f"every shard READY at the end: {self.all_ready_at_end}",
            ]
        )


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Soak:
    def __init__(self, *, shards: int, seed: int, rate: float, event_rate: float) -> None:
        self.rng = random.Random(seed)
        self.shard_count = shards
        self.rate = rate
        self.config = EmulatorConfig(
            seed=seed,
            shards=shards,
            event_rate=event_rate,
            heartbeat_interval_ms=1000,
            guilds=2 * shards,
            session_start_total=1_000_000,
        )
        # A handshake fault is drawn half as often as a live one and waits a short window
        # for a connection to reach its point: it strikes the handshakes that the live
        # faults cause, without keeping a shard from ever getting through.
        self.chaos = ChaosConfig(
            mean_interval=2.0 / rate,
            faults=HANDSHAKE_FAULTS,
            triggers=HANDSHAKE_TRIGGERS,
            seed=seed,
            window=0.15,
        )
        self.gate = IdentifyGate(max_concurrency=1, margin=DRIVER_MARGIN)
        self.ledgers = [ShardLedger(sid, ALLOWED_OVERHEAD_S) for sid in range(shards)]
        self.clients: list[Websocket] = []
        #: Our local port of every connection a shard opened -> shard id.
        self.ports: dict[int, int] = {}
        #: (shard id, its connection number) -> local port, while the connection is open.
        self.conn_ports: dict[tuple[int, int], int] = {}
        #: Ports of connections the client has closed or dropped -> when it saw them go.
        self.closed_ports: dict[int, float] = {}
        #: Emulator records whose connection the client had not reported open yet.
        self._unplaced: list[Any] = []
        self._slot_waits_seen: set[float] = set()
        self.rss_by_minute: list[int] = []
        self.server: EmulatorServer | None = None
        self._seen_records = 0

    def _listen(self, sid: int) -> Any:
        ledger = self.ledgers[sid]

        def on_action(ws: Websocket, action: Action) -> None:
            ledger.action(action, time.monotonic())

        def on_wire(ws: Websocket, event: WireEvent) -> None:
            if event.kind == "open":
                conn = ws._conn  # the soak peeks at which local port this connection has
                if conn is not None and conn.ws is not None:
                    port = conn.ws.local_address[1]
                    self.ports[port] = sid
                    self.conn_ports[sid, event.conn] = port
                    self.closed_ports.pop(port, None)  # the OS may hand a port out again
            elif event.kind == "close":
                port = self.conn_ports.pop((sid, event.conn), None)
                if port is not None:
                    self.closed_ports[port] = time.monotonic()

        return on_action, on_wire

    async def run(self, seconds: float) -> SoakResult:
        server = EmulatorServer(self.config, chaos=self.chaos)
        self.server = server
        await server.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            for sid in range(self.shard_count):
                ws = Websocket(
                    TOKEN,
                    intents=513,
                    gateway_url=server.gateway_url,
                    shard=(sid, self.shard_count),
                    identify_gate=self.gate,
                    backoff_base=0.1,
                    backoff_cap=2.0,
                    hello_timeout=2.0,
                )
                on_action, on_wire = self._listen(sid)
                ws.add_listener(on_action)
                ws.add_wire_listener(on_wire)
                self.clients.append(ws)
                tasks.append(asyncio.create_task(ws.run(), name=f"soak-shard-{sid}"))
            await self._until_all_ready(30.0)
            rss0, fds0 = _rss_kb(), _fds()
            start = time.monotonic()
            await self._deal_faults(start + seconds)
            # Let the last faults recover before counting.
            with contextlib.suppress(TimeoutError):
                await self._until_all_ready(60.0)
            elapsed = time.monotonic() - start
            self._collect_server_faults()
            rss1, fds1 = _rss_kb(), _fds()
            ready = all(ledger.ready for ledger in self.ledgers)
        finally:
            for ws in self.clients:
                with contextlib.suppress(Exception):
                    ws.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await asyncio.gather(*tasks, return_exceptions=True)
            for task in tasks:
                task.cancel()
            await server.stop()
        slow = [
            {
                "shard": lg.shard,
                "took": e.took,
                "required": e.required,
                "faults": e.faults,
                "log": [f"+{at - e.started:.3f} s [{req:.2f}] {what}" for at, what, req in e.log],
            }
            for lg in self.ledgers
            for e in lg.episodes
            if e.overhead > ALLOWED_OVERHEAD_S
        ]
        return SoakResult(
            seconds=elapsed,
            ledgers=self.ledgers,
            server_faults=self._server_fault_count(),
            client_identify_violations=identify_spacing_violations(self.ledgers, 1),
            server_identify_violations=server.identify_violation_count,
            rss_kb=(rss0, rss1),
            rss_by_minute=self.rss_by_minute,
            fds=(fds0, fds1),
            all_ready_at_end=ready,
            slow=slow,
        )

    async def _until_all_ready(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            # The ledgers too: a zombie fault is READY until the client notices it.
            while not all(ws.status is GatewayStatus.READY for ws in self.clients) or not all(
                ledger.ready for ledger in self.ledgers
            ):
                self._collect_server_faults()
                await asyncio.sleep(0.01)

    async def _deal_faults(self, until: float) -> None:
        """Strike READY shards at random (exponential gaps); a tenth of the time, twice."""
        weights = [w for w, *_ in LIVE_FAULTS]
        next_at = time.monotonic() + self.rng.expovariate(self.rate)
        sample_at = time.monotonic() + 60.0
        while time.monotonic() < until:
            if time.monotonic() >= sample_at:
                self.rss_by_minute.append(_rss_kb())
                sample_at += 60.0
            self._collect_server_faults()
            self._strike_slot_waits()
            now = time.monotonic()
            if now < next_at:
                await asyncio.sleep(min(0.005, next_at - now))
                continue
            next_at = now + self.rng.expovariate(self.rate)
            sid = self.rng.randrange(self.shard_count)
            burst = 2 if self.rng.random() < 0.1 else 1
            for _ in range(burst):
                _, name, fault, hidden = self.rng.choices(LIVE_FAULTS, weights)[0]
                self._strike(sid, name, fault, hidden)

    def _strike_slot_waits(self) -> None:
        """Once per wait, maybe: drop the connection of a shard whose IDENTIFY waits."""
        assert self.server is not None
        for sid, ledger in enumerate(self.ledgers):
            waiting = ledger.waiting_for_slot
            if waiting is None or waiting in self._slot_waits_seen:
                continue
            self._slot_waits_seen.add(waiting)
            if self.rng.random() >= SLOT_WAIT_STRIKE:
                continue
            ports = [p for (s, _), p in self.conn_ports.items() if s == sid]
            live = [
                c.id for c in self.server.ctx.connections.values()
                if c.peer_port in ports and not c.closed
            ]  # fmt: skip
            if live and self.server.inject(Fault("drop"), connection=live[-1]):
                ledger.fault("slot_wait:drop", time.monotonic())

    def _strike(self, sid: int, name: str, fault: Fault | None, hidden: bool) -> None:
        ws = self.clients[sid]
        if ws.status is not GatewayStatus.READY and not self.ledgers[sid].recovering:
            return  # only READY shards, or ones already in an episode (a burst)
        now = time.monotonic()
        if fault is None:
            if ws.is_connected():
                self.ledgers[sid].fault(name, now)
                ws.terminate()
            return
        assert self.server is not None
        if self.server.inject(fault, session=ws.session.session_id or "-", live_only=True):
            self.ledgers[sid].fault(name, now, hidden=hidden)

    def _collect_server_faults(self) -> None:
        """Handshake faults the emulator dealt: to the shard whose connection they hit."""
        assert self.server is not None
        records = self.server.injected_faults
        new = self.server.injected_count - self._seen_records
        self._seen_records += new
        fresh = [records[-i] for i in range(min(new, len(records)), 0, -1)]
        waiting, self._unplaced = self._unplaced, []
        now = time.monotonic()
        for record in [*waiting, *fresh]:
            if record.source != "chaos":
                continue
            sid = self.ports.get(record.peer_port)
            closed_at = self.closed_ports.get(record.peer_port)
            if sid is None or (closed_at is not None and closed_at < record.time):
                # Not placed yet: the emulator can see a connection before the client
                # reports it open, and a port closed before the fault may be open again
                # (the OS reuses ports). A fault on a connection the shard had already
                # given up on changes nothing it sees: after 2 s it is dropped.
                if now - record.time < 2.0:
                    self._unplaced.append(record)
                continue
            self.ledgers[sid].fault(
                f"{record.trigger}:{record.fault.describe()}",
                record.time,
                hidden=record.fault.action == "stall",
            )

    def _server_fault_count(self) -> int:
        assert self.server is not None
        return sum(1 for r in self.server.injected_faults if r.source == "chaos")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=4.0, help="driver faults per second")
    parser.add_argument("--event-rate", type=float, default=20.0)
    parser.add_argument("--json", action="store_true", help="also print the result as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="list long recoveries")
    args = parser.parse_args(argv)
    soak = Soak(shards=args.shards, seed=args.seed, rate=args.rate, event_rate=args.event_rate)
    result = asyncio.run(soak.run(args.minutes * 60))
    print(result.report())
    assert soak.server is not None
    for record in list(soak.server.identify_violations)[:10]:
        print("emulator: IDENTIFY too soon:", record)
    for ledger in result.ledgers:
        for e in ledger.episodes:
            if e.overhead > ALLOWED_OVERHEAD_S:
                print(
                    f"slow recovery, shard {ledger.shard}: took {e.took:.2f} s, "
                    f"required {e.required:.2f} s"
                )
                for at, what, required in e.log:
                    print(f"  +{at - e.started:7.3f} s  [{required:6.2f}]  {what}")
    if args.verbose:
        for ledger in result.ledgers:
            for e in ledger.episodes:
                if e.took > 3:
                    print(
                        f"shard {ledger.shard}: took {e.took:.1f} s, required "
                        f"{e.required:.1f} s: {', '.join(e.faults)}"
                    )
    if args.json:
        print(json.dumps([lg.summary() for lg in result.ledgers]))
    ok = (
        result.lost == 0
        and result.duplicated == 0
        and not result.slow
        and not result.client_identify_violations
        and result.all_ready_at_end
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
