"""A running proxy as shards: one row per shard a bot has identified, whose figures add up
all of that shard's bot connections through the proxy (a resume opens a new one), for
`birbctl status`, `ping` and the dashboard.

A relay is one connection; a shard's resumes, re-identifies, events and how its last
connection ended only make sense across connections, so they are kept here, per shard,
as connections end. The row shows the newest connection of the shard: the open one, or
the last to end.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from birbctl.client.monitor import LogLine
from birbctl.client.snapshot import PingSnapshot, ShardSnapshot, close_words
from birbctl.metrics.histogram import RoundTripHistogram
from birbctl.metrics.labels import close_code_label
from birbctl.metrics.sample import CLIENT, SERVER, ShardSample
from birbctl.protocol.events import Level
from birbctl.proxy.relay import GatewayRelay

#: How many of a connection's newest round trips `ping` shows as its history.
PING_HISTORY = 120
#: Log lines kept for the dashboard.
LOG_LINES = 200
#: Shards remembered once their last connection ended (a bot with more goes on working;
#: the oldest rows go).
SHARDS_KEPT = 1024


@dataclass(slots=True)
class _Shard:
    """What a shard's ended connections add up to, and its newest connection."""

    first_seen: float
    relay: GatewayRelay
    connections: int = 0
    resumes: int = 0
    identifies: int = 0
    events: int = 0
    event_counts: Counter[str] = field(default_factory=Counter)
    last_close: str | None = None
    #: (ready, expected) of the last READY's guilds: a resumed connection gets no READY.
    guilds: tuple[int, int] = (0, 0)
    # For --metrics: every round trip, closes by (code, side) as the bot saw them, and
    # the ended connections' counts.
    rtt: RoundTripHistogram = field(default_factory=RoundTripHistogram)
    closes: Counter[tuple[str, str]] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)


#: The relay's counts a shard adds up for --metrics (ShardSample's fields of the same
#: meaning, and how the relay names them).
_TOTALS = {
    "resume_attempts": "resume_attempts",
    "heartbeats_sent": "heartbeats",
    "heartbeats_acked": "acks",
    "decode_errors": "decode_errors",
    "received_wire_bytes": "wire_bytes",
    "received_inflated_bytes": "inflated_bytes",
    "sent_bytes": "bot_bytes",
}


class ProxyRows:
    """Call `opened` and `ended` for every bot connection; read `snapshots()`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._open: dict[int, GatewayRelay] = {}  # by connection number
        self._shards: dict[int, _Shard] = {}  # by shard id
        self.log: deque[LogLine] = deque(maxlen=LOG_LINES)

    def opened(self, number: int, relay: GatewayRelay) -> None:
        self._open[number] = relay
        relay.on_rtt = self._round_trip

    def _round_trip(self, relay: GatewayRelay, ms: float) -> None:
        if relay.shard is not None:
            self._shard(relay).rtt.observe(ms / 1000)

    def ended(self, number: int, relay: GatewayRelay, side: str, code: int | None) -> None:
        self._open.pop(number, None)
        if relay.shard is None:
            return  # it never identified (or resumed a session the proxy knows)
        shard = self._shard(relay)
        shard.connections += 1
        shard.resumes += relay.resumed
        shard.identifies += relay.identifies
        shard.events += relay.events
        shard.event_counts.update(relay.dispatches)
        shard.last_close = close_words(side, code)
        shard.closes[close_code_label(code), CLIENT if side == "bot" else SERVER] += 1
        for name, attribute in _TOTALS.items():
            shard.totals[name] += getattr(relay, attribute)
        snapshot = relay.snapshot()
        if snapshot.guilds_expected:
            shard.guilds = (snapshot.guilds_ready, snapshot.guilds_expected)
        if shard.relay is relay or shard.relay.closed is not None:
            shard.relay = relay
        while len(self._shards) > SHARDS_KEPT:
            del self._shards[next(iter(self._shards))]

    def note(self, text: str, *, shard: int = -1, level: Level = "info") -> None:
        self.log.append(LogLine(self._clock(), shard, text, level))

    def _shard(self, relay: GatewayRelay) -> _Shard:
        assert relay.shard is not None
        shard = self._shards.get(relay.shard[0])
        if shard is None:
            shard = self._shards[relay.shard[0]] = _Shard(relay.started, relay)
        return shard

    def _current(self) -> dict[int, tuple[_Shard, list[GatewayRelay]]]:
        """Each shard with its open connections (newest last)."""
        rows: dict[int, tuple[_Shard, list[GatewayRelay]]] = {}
        for number in sorted(self._open):
            relay = self._open[number]
            if relay.shard is None:
                continue
            shard = self._shard(relay)
            shard.relay = relay
            rows.setdefault(relay.shard[0], (shard, []))[1].append(relay)
        for shard_id, shard in self._shards.items():
            rows.setdefault(shard_id, (shard, []))
        return dict(sorted(rows.items()))

    def snapshots(self) -> list[ShardSnapshot]:
        now = self._clock()
        out = []
        for shard, open_relays in self._current().values():
            base = shard.relay.snapshot()
            identifies = shard.identifies + sum(r.identifies for r in open_relays)
            ready, expected = (
                (base.guilds_ready, base.guilds_expected) if base.guilds_expected else shard.guilds
            )
            out.append(
                dataclasses.replace(
                    base,
                    uptime=now - shard.first_seen,
                    connections=shard.connections + len(open_relays),
                    resumes=shard.resumes + sum(r.resumed for r in open_relays),
                    reidentifies=max(0, identifies - 1),
                    events=shard.events + sum(r.events for r in open_relays),
                    last_close=shard.last_close,
                    guilds_ready=ready,
                    guilds_expected=expected,
                )
            )
        return out

    def ping_snapshots(self) -> list[PingSnapshot]:
        """Each shard's newest connection's round trips: its heartbeats to upstream's ACK."""
        return [ping_snapshot(shard.relay) for shard, _ in self._current().values()]

    def event_counts(self) -> list[Mapping[str, int]]:
        counts: list[Mapping[str, int]] = []
        for shard, open_relays in self._current().values():
            counts.append(shard.event_counts)
            counts.extend(r.dispatches for r in open_relays)
        return counts

    def shard_ids(self) -> list[int]:
        return list(self._current())

    def metrics_samples(self) -> list[ShardSample]:
        """Each shard as `--metrics` shows it (closes by side as the bot saw them: the
        bot's own are the client's; upstream's and the proxy's, the gateway's)."""
        samples = []
        snapshots = {snap.shard_id: snap for snap in self.snapshots()}
        for shard_id, (shard, open_relays) in self._current().items():
            totals = Counter(shard.totals)
            for relay in open_relays:
                for name, attribute in _TOTALS.items():
                    totals[name] += getattr(relay, attribute)
            events = Counter(shard.event_counts)
            for relay in open_relays:
                events.update(relay.dispatches)
            snapshot = snapshots[shard_id]
            samples.append(
                ShardSample(
                    snapshot=snapshot,
                    rtt=shard.rtt.read(),
                    events=events,
                    identifies=shard.identifies + sum(r.identifies for r in open_relays),
                    resume_attempts=totals["resume_attempts"],
                    heartbeats_sent=totals["heartbeats_sent"],
                    heartbeats_acked=totals["heartbeats_acked"],
                    closes=dict(shard.closes),
                    decode_errors=totals["decode_errors"],
                    protocol_errors=totals["decode_errors"],
                    received_wire_bytes=totals["received_wire_bytes"],
                    received_inflated_bytes=totals["received_inflated_bytes"],
                    sent_bytes=totals["sent_bytes"],
                )
            )
        return samples

    def logs(self) -> list[LogLine]:
        return list(self.log)


def ping_snapshot(relay: GatewayRelay) -> PingSnapshot:
    """One bot connection's round trips: its heartbeats to upstream's ACKs, in ms."""
    shard = relay.snapshot().shard
    history = tuple(relay.latency.history(PING_HISTORY))
    return PingSnapshot.of(shard, relay.latency.stats(), history)
