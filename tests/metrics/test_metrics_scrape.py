"""The scrape of every command that takes --metrics (connect, tail, demo, serve), run as
a user runs them against the emulator, passes `promtool check metrics`; a bad flag or a
port in use is one line and exit 2."""

from __future__ import annotations

import re
import socket

import pytest
from conftest import birbctl, one_line_error
from metrics_procs import (
    METRICS_LINE,
    TOKEN,
    birbctl_argv,
    emulator,
    promtool_check_metrics,
    running,
    scrape_until,
    token_env,
)

READY = 'birbctl_shard_status{shard="0",status="ready"} 1.0'
ACKED = 'birbctl_shard_heartbeat_rtt_seconds_bucket{le="+Inf",shard="0"} '


def check_shard_scrape(text: str) -> None:
    promtool_check_metrics(text)
    assert TOKEN not in text and TOKEN.split(".")[0] not in text
    assert re.search(r'birbctl_shard_events_total\{event="MESSAGE_CREATE",shard="0"\} [1-9]', text)
    assert re.search(r"birbctl_shard_received_wire_bytes_total\{shard=\"0\"\} [1-9]", text)
    assert "birbctl_build_info{" in text and "process_cpu_seconds_total" in text


@pytest.mark.parametrize("command", ["connect", "tail"])
def test_connect_and_tail_scrapes_pass_promtool(command: str) -> None:
    with emulator("--heartbeat-interval", "500", "--event-rate", "20") as (gateway, _, _serve):
        extra = ["-f", "jsonl"] if command == "tail" else ["--json"]
        argv = birbctl_argv(command, "--gateway-url", gateway, "--metrics", "127.0.0.1:0", *extra)
        with running(argv, token_env()) as proc:
            url = proc.wait_for("stderr", METRICS_LINE)
            assert url.startswith("http://127.0.0.1:")
            text = scrape_until(url, [READY, ACKED, "MESSAGE_CREATE"])
            check_shard_scrape(text)
            assert f'birbctl_build_info{{command="{command}"' in text
        assert proc.proc.returncode == 143


def test_demo_scrape_passes_promtool() -> None:
    with running(birbctl_argv("demo", "--json", "--metrics", "127.0.0.1:0")) as proc:
        url = proc.wait_for("stderr", METRICS_LINE)
        text = scrape_until(url, [READY, ACKED, "MESSAGE_CREATE"])
    check_shard_scrape(text)


def test_serve_scrape_passes_promtool() -> None:
    options = ("--heartbeat-interval", "500", "--event-rate", "20", "--fault",
               "on=identify action=ack_delay ms=10")  # fmt: skip
    with emulator(*options) as (gateway, metrics, _serve):
        argv = birbctl_argv("connect", "--gateway-url", gateway, "--json")
        with running(argv, token_env()):
            text = scrape_until(
                metrics,
                [
                    'birbctl_emulator_sessions{state="connected"} 1.0',
                    'birbctl_emulator_faults_injected_total{kind="ack_delay",source="step"} 1.0',
                ],
            )
    promtool_check_metrics(text)
    assert re.search(r"birbctl_emulator_messages_sent_total [1-9]", text)
    assert 'birbctl_build_info{command="serve"' in text


@pytest.mark.parametrize("command", ["connect", "tail", "demo", "serve"])
def test_a_bad_metrics_flag_is_a_usage_error(command: str) -> None:
    result = birbctl(command, "--metrics", "nowhere:port", env=token_env())
    err = one_line_error(result, 2)
    assert "--metrics 'nowhere:port'" in err


def test_a_metrics_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = birbctl("serve", "--metrics", f"127.0.0.1:{port}")
    err = one_line_error(result, 2)
    assert f"--metrics: cannot listen on 127.0.0.1:{port}" in err
