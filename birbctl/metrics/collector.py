"""Prometheus collectors over live state, read at scrape time (imports prometheus_client).

Nothing here runs per frame: the live client and the emulator keep their own counts
(the session's counters, the monitor's histogram) and a scrape reads them. The
endpoint's HTTP server runs on a thread of its own, so every reading is taken on the
event loop's thread (`LoopBridge`): the collector never sees a count halfway through a
change, and the loop pays only for building the samples.

The proxy, or anything else holding gateway connections, plugs in with
`ShardCollector(shards)`, where `shards()` returns one `ShardSample` per shard id, or
objects that take one (`sample.MetricsShard`, as the ShardMonitor does).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from birbctl.metrics.emulator import EmulatorSample
from birbctl.metrics.labels import REASON_LABELS, event_label
from birbctl.metrics.sample import MetricsShard, ShardSample
from birbctl.protocol.status import GatewayStatus

T = TypeVar("T")

#: How long a scrape waits for the event loop to take the samples.
SAMPLE_TIMEOUT = 5.0
STATUSES: tuple[str, ...] = tuple(status.value for status in GatewayStatus)


class LoopBridge:
    """Runs a function on an event loop's thread and returns its result to the caller's
    thread (the HTTP server's); a call from the loop's own thread runs at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._thread = threading.get_ident()

    def call(self, fn: Callable[[], T], timeout: float = SAMPLE_TIMEOUT) -> T:
        if threading.get_ident() == self._thread:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the scraping thread
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        try:
            return future.result(timeout)
        finally:
            future.cancel()


def _read(bridge: LoopBridge | None, fn: Callable[[], T]) -> T:
    return fn() if bridge is None else bridge.call(fn)


class ShardCollector(Collector):
    """`birbctl_shard_*`: one set of series per shard, labelled `shard` (its id).

    `shards` is called once per scrape (on the loop, through `bridge`) and returns one
    ShardSample per shard, or a MetricsShard to take it from; a second sample with a
    shard id already seen is left out. `prefix` names the metrics (`{prefix}_status`...).
    """

    def __init__(
        self,
        shards: Callable[[], Iterable[ShardSample | MetricsShard]],
        *,
        bridge: LoopBridge | None = None,
        prefix: str = "birbctl_shard",
    ) -> None:
        self.shards = shards
        self.bridge = bridge
        self.prefix = prefix

    def describe(self) -> Iterable[Metric]:
        return ()  # registering must not take a sample

    def collect(self) -> Iterator[Metric]:
        samples: dict[str, ShardSample] = {}
        for sample in _read(self.bridge, self._take):
            samples.setdefault(str(sample.snapshot.shard[0]), sample)
        yield from _shard_metrics(self.prefix, samples)

    def _take(self) -> list[ShardSample]:
        return [s if isinstance(s, ShardSample) else s.metrics_sample() for s in self.shards()]


def _shard_metrics(p: str, samples: dict[str, ShardSample]) -> Iterator[Metric]:
    shard = ["shard"]

    def gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{p}_{name}", doc, labels=labels or shard)

    def counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
        return CounterMetricFamily(f"{p}_{name}", doc, labels=labels or shard)

    status = gauge(
        "status", "1 for the shard's current status, 0 for the others.", ["shard", "status"]
    )
    rtt = HistogramMetricFamily(
        f"{p}_heartbeat_rtt_seconds",
        "Heartbeat round trips: from sending a heartbeat to its ACK.",
        labels=shard,
    )
    interval = gauge("heartbeat_interval_seconds", "Heartbeat interval from the last HELLO.")
    ack_age = gauge("last_ack_age_seconds", "Seconds since the last heartbeat ACK.")
    seq = gauge("sequence", "The last sequence number received.")
    beats = counter("heartbeats", "Heartbeats sent.")
    acks = counter("heartbeat_acks", "Heartbeat ACKs received.")
    events = counter(
        "events", "Dispatches received, by event name (unknown names: other).", ["shard", "event"]
    )
    wire = counter("received_wire_bytes", "Bytes received as frames (compressed).")
    inflated = counter("received_inflated_bytes", "Bytes received once inflated.")
    sent = counter("sent_bytes", "Bytes sent.")
    connections = counter("connections", "Connections opened or attempted.")
    failures = counter("connect_failures", "Connections that could not be opened.")
    reconnects = counter("reconnects", "Reconnects, by reason.", ["shard", "reason"])
    identifies = counter("identifies", "IDENTIFY payloads sent.")
    resume_attempts = counter("resume_attempts", "RESUME payloads sent.")
    resumes = counter("resumes", "Sessions resumed (RESUMED received).")
    closes = counter(
        "closes",
        "Connections closed, by close code (none: no code) and side (client: birbctl "
        "closed or dropped it; server: the gateway closed it or it was lost).",
        ["shard", "code", "side"],
    )
    decode_errors = counter("decode_errors", "Frames that could not be inflated or decoded.")
    protocol_errors = counter(
        "protocol_errors", "Protocol violations by the gateway (decode errors included)."
    )
    queue = gauge("send_queue_length", "Payloads waiting for the rate limit or for READY.")
    waits = counter("limiter_waits", "Sends the rate limiter held back.")

    for sid, sample in samples.items():
        snap = sample.snapshot
        for name in STATUSES:
            status.add_metric([sid, name], 1.0 if snap.status == name else 0.0)
        rtt.add_metric([sid], sample.rtt.cumulative(), sum_value=sample.rtt.sum)
        if sample.heartbeat_interval is not None:
            interval.add_metric([sid], sample.heartbeat_interval)
        if snap.last_ack_age is not None:
            ack_age.add_metric([sid], snap.last_ack_age)
        if snap.seq is not None:
            seq.add_metric([sid], snap.seq)
        beats.add_metric([sid], sample.heartbeats_sent)
        acks.add_metric([sid], sample.heartbeats_acked)
        by_event: dict[str, int] = {}
        for event, count in sample.events.items():
            label = event_label(event)
            by_event[label] = by_event.get(label, 0) + count
        for label, count in sorted(by_event.items()):
            events.add_metric([sid, label], count)
        for family, value in (
            (wire, sample.received_wire_bytes),
            (inflated, sample.received_inflated_bytes),
            (sent, sample.sent_bytes),
            (waits, sample.limiter_waits),
        ):
            if value is not None:
                family.add_metric([sid], value)
        connections.add_metric([sid], snap.connections)
        failures.add_metric([sid], sample.failed_connections)
        for reason in REASON_LABELS:
            reconnects.add_metric([sid, reason], sample.reconnects.get(reason, 0))
        identifies.add_metric([sid], sample.identifies)
        resume_attempts.add_metric([sid], sample.resume_attempts)
        resumes.add_metric([sid], snap.resumes)
        for (code, side), count in sorted(sample.closes.items()):
            closes.add_metric([sid, code, side], count)
        decode_errors.add_metric([sid], sample.decode_errors)
        protocol_errors.add_metric([sid], sample.protocol_errors)
        queue.add_metric([sid], sample.send_queue)
    yield from (
        status, rtt, interval, ack_age, seq, beats, acks, events, wire, inflated, sent,
        connections, failures, reconnects, identifies, resume_attempts, resumes, closes,
        decode_errors, protocol_errors, queue, waits,
    )  # fmt: skip


class EmulatorCollector(Collector):
    """`birbctl_emulator_*`: what `birbctl serve` has done; `sample` runs on the loop."""

    def __init__(
        self, sample: Callable[[], EmulatorSample], *, bridge: LoopBridge | None = None
    ) -> None:
        self.sample = sample
        self.bridge = bridge

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        s = _read(self.bridge, self.sample)
        p = "birbctl_emulator"
        connections = GaugeMetricFamily(f"{p}_open_connections", "Gateway websockets open now.")
        connections.add_metric([], s.connections)
        accepted = CounterMetricFamily(
            f"{p}_connections_accepted", "Gateway websockets accepted.", labels=[]
        )
        accepted.add_metric([], s.connections_total)
        sessions = GaugeMetricFamily(
            f"{p}_sessions",
            "Gateway sessions kept: connected, or detached (resumable until they expire).",
            labels=["state"],
        )
        sessions.add_metric(["connected"], s.sessions_connected)
        sessions.add_metric(["detached"], s.sessions_detached)
        messages = CounterMetricFamily(
            f"{p}_messages_sent",
            "Gateway messages sent to clients (dispatches, HELLO, ACKs, op 7, op 9).",
        )
        messages.add_metric([], s.messages_sent)
        sent = CounterMetricFamily(f"{p}_sent_bytes", "Bytes of the messages sent, as framed.")
        sent.add_metric([], s.sent_bytes)
        faults = CounterMetricFamily(
            f"{p}_faults_injected",
            "Faults injected, by kind (the fault's action) and source (step, chaos, admin).",
            labels=["kind", "source"],
        )
        for (kind, source), count in sorted(s.faults.items()):
            faults.add_metric([kind, source], count)
        violations = CounterMetricFamily(
            f"{p}_identify_violations",
            "IDENTIFYs of one max_concurrency bucket under 5 s apart.",
        )
        violations.add_metric([], s.identify_violations)
        yield from (connections, accepted, sessions, messages, sent, faults, violations)


class InfoCollector(Collector):
    """`birbctl_build_info{version, command}`: which birbctl and which command serve."""

    def __init__(self, command: str) -> None:
        self.command = command

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        from birbctl import __version__

        info = InfoMetricFamily("birbctl_build", "The birbctl serving these metrics.")
        info.add_metric([], {"version": __version__, "command": self.command})
        yield info
