"""`birbctl proxy --metrics`: the bots' shards under the same names as `connect`'s (so the
same rules and alerts apply), and the REST calls by route, method and status; bounded
labels with no ids or tokens; the scrape passes `promtool check metrics`."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import birbctl_async, running_emulator
from proxy_harness import TOKEN, no_token, proxy_process

from birbctl.proxy.rest import RestCall
from birbctl.proxy.restcounts import RestCounts, route_template


def test_route_labels_hold_no_ids_tokens_or_emoji() -> None:
    assert route_template("/channels/81384788765712384/messages") == "/channels/:id/messages"
    assert route_template("/webhooks/123/aSeCrEtWeBhOoKtOkEn/messages/@original") == (
        "/webhooks/:id/:token/messages/@original"
    )
    assert route_template("/interactions/9/tok_en/callback") == "/interactions/:id/:token/callback"
    assert route_template("/channels/1/messages/2/reactions/%F0%9F%90%A6/@me") == (
        "/channels/:id/messages/:id/reactions/:emoji/@me"
    )
    assert route_template("/gateway/bot") == "/gateway/bot"
    counts = RestCounts()
    for n in range(3):
        counts.observe(RestCall("POST", f"/channels/{n}/messages", 200, 12.5, None, None))
    counts.observe(RestCall("POST", "/channels/7/messages", 429, 3.0, "abc", "0"))
    reading = counts.read()
    assert reading.requests == {
        ("/channels/:id/messages", "POST", "200"): 3,
        ("/channels/:id/messages", "POST", "429"): 1,
    }
    [latency] = reading.latency.values()
    assert latency.count == 4 and latency.sum == pytest.approx(0.0405)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode())


def value(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"no {series} in the scrape"
    return float(found.group(1))


async def test_the_scrape_of_a_proxy_with_a_bot_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the proxy process inherits it
    env = {**os.environ, "DISCORD_TOKEN": TOKEN}
    async with (
        running_emulator(heartbeat_interval_ms=200, event_rate=20) as emulator,
        proxy_process(
            tmp_path / "proxy", "--upstream", emulator.rest_url, "--metrics", "127.0.0.1:0"
        ) as proxy,
    ):
        found = re.search(r"^metrics  (http://\S+)$", proxy.out().decode(), re.MULTILINE)
        assert found is not None, proxy.out()
        url = found.group(1)
        bot = asyncio.create_task(
            birbctl_async(env, "connect", "--api-url", proxy.rest, "--json", "--duration", "5")
        )
        try:
            async with asyncio.timeout(20):
                while (
                    'birbctl_shard_status{shard="0",status="ready"} 1.0'
                    not in (text := await asyncio.to_thread(scrape, url))
                    or value(text, 'birbctl_shard_heartbeat_rtt_seconds_count{shard="0"}') < 3
                ):
                    await asyncio.sleep(0.2)
            code, _, err = await birbctl_async(env, "reconnect", "--pid", str(proxy.proc.pid))
            assert code == 0, err
            async with asyncio.timeout(20):
                while 'birbctl_shard_resumes_total{shard="0"} 1.0' not in (
                    text := await asyncio.to_thread(scrape, url)
                ):
                    await asyncio.sleep(0.2)
        finally:
            code, _, err = await bot
        assert code == 0, err
    assert value(text, 'birbctl_shard_closes_total{code="4000",shard="0",side="server"}') == 1
    assert value(text, 'birbctl_shard_connections_total{shard="0"}') == 2
    assert value(text, 'birbctl_shard_identifies_total{shard="0"}') == 1
    assert value(text, 'birbctl_shard_resume_attempts_total{shard="0"}') == 1
    assert value(text, 'birbctl_shard_events_total{event="READY",shard="0"}') == 1
    assert value(text, 'birbctl_shard_received_wire_bytes_total{shard="0"}') > 0
    assert value(text, 'birbctl_shard_sent_bytes_total{shard="0"}') > 0
    calls = 'birbctl_proxy_rest_requests_total{method="GET",route="/gateway/bot",status="200"}'
    assert value(text, calls) == 1  # the resume went to READY's URL, with no REST call
    assert 'birbctl_build_info{command="proxy"' in text
    no_token(text)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus'; .ci/run installs it)")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
