"""The pieces of `--metrics` on their own: bounded labels, the address flag, the
collectors' exposition (read back with prometheus_client's own parser), the emulator's
fault tally, the loop bridge, and start-up without the flag."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from conftest import running_emulator
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from birbctl.client.snapshot import ShardSnapshot
from birbctl.emulator.faults import Fault
from birbctl.errors import ConfigError
from birbctl.metrics.address import MetricsAddress, parse_metrics_address
from birbctl.metrics.collector import EmulatorCollector, LoopBridge, ShardCollector
from birbctl.metrics.emulator import EmulatorSampler
from birbctl.metrics.histogram import RoundTripHistogram
from birbctl.metrics.labels import DISCORD_EVENTS, close_code_label, event_label
from birbctl.metrics.sample import ShardSample
from birbctl.protocol.opcodes import CloseCode


def test_labels_stay_in_fixed_sets() -> None:
    assert event_label("MESSAGE_CREATE") == "MESSAGE_CREATE"
    assert event_label("GUILD_CREATE") == "GUILD_CREATE"
    assert event_label("1234567890123456789") == "other"
    assert event_label("SOMETHING_NEW") == "other"
    assert len(DISCORD_EVENTS) < 100
    assert close_code_label(None) == "none"
    assert close_code_label(4004) == "4004" and close_code_label(1006) == "1006"
    assert close_code_label(4999) == "other" and close_code_label(-1) == "other"
    assert all(close_code_label(int(code)) == str(int(code)) for code in CloseCode)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("9464", "127.0.0.1", 9464),
        ("0", "127.0.0.1", 0),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("0.0.0.0:9464", "0.0.0.0", 9464),
        ("[::1]:9464", "::1", 9464),
        ("localhost:9000", "localhost", 9000),
    ],
)
def test_the_metrics_address(text: str, host: str, port: int) -> None:
    assert parse_metrics_address(text) == MetricsAddress(host, port)


def test_the_url_brackets_an_ipv6_host() -> None:
    assert MetricsAddress("::1", 0).url(9464) == "http://[::1]:9464/metrics"


@pytest.mark.parametrize("text", ["", "x", ":9464", "host:", "1:2:3", "[::1", "70000", "a:-1"])
def test_a_bad_metrics_address_is_a_usage_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--metrics"):
        parse_metrics_address(text)


def snapshot(shard: int, status: str = "ready") -> ShardSnapshot:
    return ShardSnapshot(
        shard=(shard, 2), status=status, session_id="d1ffe2a8c2f3a1b0", seq=42, ping=50.0,
        ping_avg=50.0, last_ack_age=1.5, uptime=60.0, connections=2, resumes=1,
        reidentifies=0, events=7, events_per_s=0.1, guilds_ready=1, guilds_expected=1,
        url="wss://gateway.example/?v=10", encoding="json", compress="zlib-stream",
    )  # fmt: skip


def sample(shard: int, status: str = "ready") -> ShardSample:
    rtt = RoundTripHistogram()
    rtt.observe(0.05)
    rtt.observe(0.052)
    return ShardSample(
        snapshot=snapshot(shard, status),
        rtt=rtt.read(),
        heartbeat_interval=41.25,
        events={"MESSAGE_CREATE": 5, "READY": 1, "X_1234567890": 1, "Y_NEW": 2},
        closes={("4000", "server"): 1},
        reconnects={"gateway_close": 1},
        received_wire_bytes=100,
        received_inflated_bytes=900,
        sent_bytes=50,
    )


def scrape(*collectors: object) -> str:
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def samples_of(text: str) -> Iterator[Sample]:
    for family in text_string_to_metric_families(text):
        yield from family.samples


def value(text: str, name: str, **labels: str) -> float:
    found = [s.value for s in samples_of(text) if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_the_shard_collector_exposes_the_sample() -> None:
    text = scrape(ShardCollector(lambda: [sample(0), sample(1, "resuming"), sample(1)]))
    assert value(text, "birbctl_shard_status", shard="0", status="ready") == 1
    assert value(text, "birbctl_shard_status", shard="0", status="resuming") == 0
    assert value(text, "birbctl_shard_status", shard="1", status="resuming") == 1  # the first
    assert value(text, "birbctl_shard_events_total", shard="0", event="MESSAGE_CREATE") == 5
    assert value(text, "birbctl_shard_events_total", shard="0", event="other") == 3
    assert value(text, "birbctl_shard_heartbeat_rtt_seconds_bucket", shard="0", le="0.06") == 2
    assert value(text, "birbctl_shard_heartbeat_rtt_seconds_count", shard="0") == 2
    assert value(text, "birbctl_shard_closes_total", shard="0", code="4000", side="server") == 1
    assert value(text, "birbctl_shard_reconnects_total", shard="0", reason="op7") == 0
    assert value(text, "birbctl_shard_received_inflated_bytes_total", shard="0") == 900
    assert value(text, "birbctl_shard_sequence", shard="0") == 42
    assert value(text, "birbctl_shard_last_ack_age_seconds", shard="0") == 1.5
    # No ids: not the session's, nor any a dispatch carried; no URL.
    assert "d1ffe2a8" not in text and "1234567890" not in text and "gateway.example" not in text
    allowed = {"shard", "status", "event", "le", "reason", "code", "side"}
    assert {key for s in samples_of(text) for key in s.labels} <= allowed


def test_a_shard_not_measured_leaves_its_metrics_out() -> None:
    bare = ShardSample(snapshot=snapshot(0), rtt=RoundTripHistogram().read())
    text = scrape(ShardCollector(lambda: [bare]))
    names = {s.name for s in samples_of(text)}
    assert "birbctl_shard_received_wire_bytes_total" not in names
    assert "birbctl_shard_limiter_waits_total" not in names
    assert "birbctl_shard_heartbeat_interval_seconds" not in names
    assert value(text, "birbctl_shard_heartbeat_rtt_seconds_count", shard="0") == 0


async def test_the_emulator_tally_keeps_every_fault_by_kind_and_source() -> None:
    async with running_emulator(event_rate=0) as server:
        sampler = EmulatorSampler(server)
        for _ in range(3):
            server.ctx.record_fault(_injected(Fault("drop"), "chaos"))
        first = sampler()
        server.ctx.record_fault(_injected(Fault("reconnect"), "admin"))
        server.ctx.injected.clear()  # the list is bounded; the tally is not
        server.ctx.record_fault(_injected(Fault("reconnect"), "admin"))
        text = scrape(EmulatorCollector(sampler))
    assert first.faults == {("drop", "chaos"): 3}
    assert value(text, "birbctl_emulator_faults_injected_total", kind="drop", source="chaos") == 3
    kind, source = "reconnect", "admin"
    assert value(text, "birbctl_emulator_faults_injected_total", kind=kind, source=source) == 1
    assert value(text, "birbctl_emulator_sessions", state="connected") == 0


def _injected(fault: Fault, source: str) -> object:
    from birbctl.emulator.chaos import InjectedFault

    return InjectedFault(0.0, 1, None, None, "live", source, fault)


async def test_the_bridge_reads_on_the_loops_thread() -> None:
    bridge = LoopBridge(asyncio.get_running_loop())
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def scrape_from_a_thread() -> None:
        seen.append(bridge.call(threading.get_ident))

    thread = threading.Thread(target=scrape_from_a_thread)
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.01)
    assert seen == [loop_thread]
    assert bridge.call(threading.get_ident) == loop_thread  # from the loop: at once


def test_without_the_flag_prometheus_client_is_not_imported() -> None:
    code = (
        "import sys\n"
        "import birbctl.cli.app, birbctl.client.runner, birbctl.client.monitor\n"
        "import birbctl.client.shards, birbctl.render.lines, birbctl.emulator.server\n"
        "assert 'prometheus_client' not in sys.modules, 'imported at start-up'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()


async def test_docs_monitoring_lists_every_metric_and_fault_kind() -> None:
    from pathlib import Path

    from birbctl.emulator.faults import ACTIONS
    from birbctl.metrics.collector import InfoCollector
    from birbctl.metrics.labels import REASON_LABELS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    async with running_emulator(event_rate=0) as server:
        text = scrape(
            ShardCollector(lambda: [sample(0)]),
            EmulatorCollector(EmulatorSampler(server)),
            InfoCollector("connect"),
        )
    names = {family.name for family in text_string_to_metric_families(text)}
    assert len(names) > 25
    for name in names:
        shown = name + ("_total" if f"# TYPE {name}_total counter" in text else "")
        assert f"`{shown}`" in doc, shown
    for word in (*REASON_LABELS, *ACTIONS):
        assert f"`{word}`" in doc, word


def test_the_collector_takes_shards_that_sample_themselves() -> None:
    """What a proxy hands in: its own objects with `metrics_sample()`, mixed or not."""

    class BotConnection:
        def __init__(self, shard: int) -> None:
            self.shard = shard

        def metrics_sample(self) -> ShardSample:
            return sample(self.shard, "resuming")

    collector = ShardCollector(lambda: [BotConnection(3), sample(1)], prefix="birbctl_proxy")
    text = scrape(collector)
    assert value(text, "birbctl_proxy_status", shard="3", status="resuming") == 1
    assert value(text, "birbctl_proxy_status", shard="1", status="ready") == 1
    promtool = shutil.which("promtool")
    if promtool is not None:
        result = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                capture_output=True, timeout=60)  # fmt: skip
        assert result.returncode == 0 and not result.stdout, result.stdout
