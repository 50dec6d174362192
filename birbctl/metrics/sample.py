"""What the collector reads of one shard at scrape time: a frozen `ShardSample`.

A sample is the dashboard's own `ShardSnapshot` (status, sequence, last ACK age,
resumes, connections, events) plus the counts only metrics show: the round-trip
histogram, events by name, reconnects by reason, closes by code and side, bytes. The
live client's `ShardMonitor.metrics_sample()` takes one; anything else that holds
gateway connections (the proxy's bot connections) can build them the same way and hand
the collector a callable that returns them (see `collector.ShardCollector`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from birbctl.client.snapshot import ShardSnapshot
from birbctl.metrics.histogram import HistogramCounts

CLIENT, SERVER = "client", "server"


@dataclass(frozen=True, slots=True)
class ShardSample:
    """One shard (or one proxied bot connection) as the metrics show it, at one instant.

    Counts are running totals since the process started; None means "not measured
    here" (the metric is left out rather than shown as 0).
    """

    snapshot: ShardSnapshot
    rtt: HistogramCounts  # heartbeat round trips, seconds
    heartbeat_interval: float | None = None  # seconds, from the last HELLO
    #: Dispatches by event name as received; the collector folds unknown names.
    events: Mapping[str, int] = field(default_factory=dict)
    identifies: int = 0
    resume_attempts: int = 0
    heartbeats_sent: int = 0
    heartbeats_acked: int = 0
    failed_connections: int = 0
    #: Reconnects by `reason` label (`ReconnectReason` values).
    reconnects: Mapping[str, int] = field(default_factory=dict)
    #: Closes by (`labels.close_code_label`, side): side CLIENT when birbctl (or the bot)
    #: closed or dropped the connection, SERVER when the gateway did or it was lost.
    closes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    decode_errors: int = 0  # frames that could not be inflated or decoded
    protocol_errors: int = 0  # every protocol violation, decode errors included
    send_queue: int = 0  # payloads waiting for the rate limit or for READY
    received_wire_bytes: int | None = None  # frames as they came (compressed)
    received_inflated_bytes: int | None = None  # messages once inflated
    sent_bytes: int | None = None
    limiter_waits: int | None = None  # sends the rate limiter held back


class MetricsShard(Protocol):
    """Anything that can be sampled: the live client's ShardMonitor, or a proxy's own
    per-connection object. `metrics_sample()` is called on the event loop's thread."""

    def metrics_sample(self) -> ShardSample: ...
