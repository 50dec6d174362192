"""`birbctl proxy --metrics`: its REST calls (`birbctl_proxy_rest_*`); its bots' shards go
through `collector.ShardCollector` with `proxy.rows.ProxyRows.metrics_samples`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from birbctl.metrics.collector import LoopBridge, _read
from birbctl.proxy.restcounts import RestReading


class RestCollector(Collector):
    """Requests by route, method and status, and their latency by route and method."""

    def __init__(self, read: Callable[[], RestReading], *, bridge: LoopBridge | None = None):
        self.read = read
        self.bridge = bridge

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        reading = _read(self.bridge, self.read)
        requests = CounterMetricFamily(
            "birbctl_proxy_rest_requests",
            "REST requests the proxy forwarded, by route (ids as :id), method and status.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in sorted(reading.requests.items()):
            requests.add_metric([route, method, status], count)
        yield requests
        latency = HistogramMetricFamily(
            "birbctl_proxy_rest_request_duration_seconds",
            "Time from the bot's request to the upstream's answer, by route and method.",
            labels=["route", "method"],
        )
        for (route, method), counts in sorted(reading.latency.items()):
            latency.add_metric([route, method], counts.cumulative(), counts.sum)
        yield latency
