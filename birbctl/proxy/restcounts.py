"""The proxy's REST calls counted for `--metrics`: by route, method and status, with
their latency. Sans-I/O and free of prometheus_client (metrics/proxy.py exports it).

A route label must stay bounded and must not carry secrets, so ids become `:id`, and the
segment after `webhooks/:id/` or `interactions/:id/` (a token, which RestCall already
shows as `***`) becomes `:token`, the one after `reactions/` (an emoji) `:emoji`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from birbctl.metrics.histogram import HistogramCounts, RoundTripHistogram
from birbctl.proxy.rest import RestCall

#: Segments after which the next one is a secret or unbounded, and what replaces it.
_AFTER_ID = {"webhooks": ":token", "interactions": ":token"}
_AFTER = {"reactions": ":emoji"}
#: Distinct (route, method) pairs kept; past it, routes count as "other".
ROUTES_KEPT = 512


def route_template(route: str) -> str:
    """`/channels/123/messages` -> `/channels/:id/messages`; no ids, tokens or emoji."""
    parts = route.split("/")
    out: list[str] = []
    for i, part in enumerate(parts):
        if part.isdigit():
            out.append(":id")
        elif i >= 2 and parts[i - 1].isdigit() and parts[i - 2] in _AFTER_ID:
            out.append(_AFTER_ID[parts[i - 2]])
        elif i >= 1 and parts[i - 1] in _AFTER:
            out.append(_AFTER[parts[i - 1]])
        else:
            out.append(part)
    return "/".join(out)


@dataclass(frozen=True, slots=True)
class RestReading:
    requests: dict[tuple[str, str, str], int]  # (route, method, status) -> count
    latency: dict[tuple[str, str], HistogramCounts]  # (route, method) -> seconds


class RestCounts:
    """`observe` each RestCall (the server's `on_rest`); `read` at scrape time."""

    def __init__(self) -> None:
        self._requests: Counter[tuple[str, str, str]] = Counter()
        self._latency: dict[tuple[str, str], RoundTripHistogram] = {}

    def observe(self, call: RestCall) -> None:
        key = (route_template(call.route), call.method)
        if key not in self._latency and len(self._latency) >= ROUTES_KEPT:
            key = ("other", call.method)
        histogram = self._latency.get(key)
        if histogram is None:
            histogram = self._latency[key] = RoundTripHistogram()
        histogram.observe(call.latency_ms / 1000)
        self._requests[(*key, str(call.status))] += 1

    def read(self) -> RestReading:
        return RestReading(
            dict(self._requests), {key: h.read() for key, h in self._latency.items()}
        )
