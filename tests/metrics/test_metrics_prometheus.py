"""A real Prometheus (the Debian package) scrapes `birbctl connect --metrics` against
`birbctl serve` with every heartbeat ACK delayed 50 ms, and its HTTP API says: the mean
round trip (rate of _sum over rate of _count) is within 5 ms of 50 ms, the p50 falls in
the bucket that holds 50 ms, events arrive, and one injected op 7 is one resume.

Skips, saying why, where prometheus is not installed. Every process is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from metrics_procs import (
    METRICS_LINE,
    Process,
    birbctl_argv,
    emulator,
    fetch,
    free_port,
    need,
    running,
    scrape_until,
    token_env,
)

from birbctl.metrics.histogram import RTT_BUCKETS

DELAY = 0.050
HEARTBEAT_MS = 250  # four round trips a second
WINDOW = "20s"  # what every rate() looks back over
SETTLE = 22.0  # seconds of scrapes before the window is full


class PrometheusApi:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, object]]:
        query = urllib.parse.urlencode({"query": expr})
        answer = json.loads(fetch(f"{self.url}/api/v1/query?{query}"))
        assert answer["status"] == "success", answer
        result: list[dict[str, object]] = answer["data"]["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        """The value of a one-series answer; None while there is none yet."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, result
        value = result[0]["value"]
        assert isinstance(value, list)
        return float(value[1])

    def wait_for(self, expr: str, want: float, timeout: float = 30.0) -> float | None:
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.scalar(expr)
            if seen == want:
                return seen
            time.sleep(0.5)
        return seen


@pytest.fixture
def prometheus_binary() -> str:
    need("promtool")
    return need("prometheus")


ADMIN_LINE = re.compile(r"^admin\s+(http://\S+/_birbctl)/sessions")


@contextlib.contextmanager
def prometheus(binary: str, target: str, workdir: Path) -> Iterator[PrometheusApi]:
    """Prometheus on a free loopback port, scraping `target` every second."""
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: birbctl\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
        "        labels: {host: test}\n"
    )
    port = free_port()
    argv = [
        binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
    ]  # fmt: skip
    with running(argv) as server:
        api = PrometheusApi(f"http://127.0.0.1:{port}")
        _wait_ready(api, server)
        yield api


def _wait_ready(api: PrometheusApi, server: Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, list(server.lines["stderr"])[-10:]
        try:
            with urllib.request.urlopen(f"{api.url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"prometheus never got ready: {list(server.lines['stderr'])[-10:]}")


def test_prometheus_sees_the_delayed_acks_the_events_and_one_resume(
    prometheus_binary: str, tmp_path: Path
) -> None:
    options = (
        "--heartbeat-interval", str(HEARTBEAT_MS), "--event-rate", "10",
        "--fault", f"on=hello times=inf action=ack_delay ms={int(DELAY * 1000)}",
    )  # fmt: skip
    with emulator(*options) as (gateway, _, serve):
        argv = birbctl_argv(
            "connect", "--gateway-url", gateway, "--metrics", "127.0.0.1:0", "--json"
        )
        with running(argv, token_env()) as connect:
            url = connect.wait_for("stderr", METRICS_LINE)
            scrape_until(url, ['birbctl_shard_status{shard="0",status="ready"} 1.0'])
            target = url.removeprefix("http://").removesuffix("/metrics")
            with prometheus(prometheus_binary, target, tmp_path) as api:
                time.sleep(SETTLE)
                rtt = "birbctl_shard_heartbeat_rtt_seconds"
                mean = api.scalar(
                    f"sum(rate({rtt}_sum[{WINDOW}])) / sum(rate({rtt}_count[{WINDOW}]))"
                )
                p50 = api.scalar(
                    f"histogram_quantile(0.5, sum by (le) (rate({rtt}_bucket[{WINDOW}])))"
                )
                events = api.scalar(f"sum(rate(birbctl_shard_events_total[{WINDOW}]))")
                samples = api.scalar(f"sum(increase({rtt}_count[{WINDOW}]))")
                print(f"mean {mean}, p50 {p50}, events/s {events}, round trips {samples}")
                assert mean is not None and abs(mean - DELAY) <= 0.005, mean
                assert p50 is not None
                below = max(b for b in RTT_BUCKETS if b < DELAY)
                above = min(b for b in RTT_BUCKETS if b >= DELAY)
                assert below < p50 <= above, (p50, below, above)
                assert events is not None and events > 0

                resumes = "birbctl_shard_resumes_total"
                assert api.scalar(resumes) == 0
                admin = serve.wait_for("stdout", ADMIN_LINE)
                request = urllib.request.Request(
                    f"{admin}/faults?action=reconnect", method="POST", data=b""
                )
                with urllib.request.urlopen(request, timeout=10) as answer:
                    assert answer.status == 200
                assert api.wait_for(resumes, 1) == 1
                op7 = 'birbctl_shard_reconnects_total{reason="op7"}'
                assert api.scalar(op7) == 1
                time.sleep(3)  # still one a few scrapes later: nothing else reconnected
                assert api.scalar(resumes) == 1
                assert api.scalar("sum(birbctl_shard_reconnects_total)") == 1
            assert connect.proc.poll() is None  # still running: stopped by the fixture
