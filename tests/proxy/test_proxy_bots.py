"""Real bots through the proxy to the emulator: discord.py and hikari (test extras) reach
READY, and an op 7 makes them RESUME through the proxy's resume URL to the upstream's,
with no message lost, repeated or reordered. The clients run in subprocesses
(tests/emulator/conformance_runner.py), pointed at the proxy's port."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import running_emulator
from proxy_harness import ProxyOutput, no_token, running_proxy

from birbctl.emulator.faults import parse_fault_flag
from birbctl.emulator.sessions import SessionRecord

RUNNER = Path(__file__).resolve().parents[1] / "emulator" / "conformance_runner.py"
RUNS = [("discordpy", "zlib-stream"), ("discordpy", "zstd-stream"),
        ("hikari", "zlib-stream"), ("hikari", "zstd-stream")]  # fmt: skip


async def run_through_proxy(
    client: str, compress: str
) -> tuple[Any, list[SessionRecord], ProxyOutput, str]:
    steps = (parse_fault_flag("after_events=5 action=reconnect"),)
    async with (
        running_emulator(guilds=2, event_rate=50, seed=7, steps=steps) as emulator,
        running_proxy(emulator.rest_url) as (proxy, out),
    ):
        sessions: list[SessionRecord] = []
        records = emulator.ctx.records
        original = records.add

        def add(session: SessionRecord, now: float) -> None:
            sessions.append(session)
            original(session, now)

        records.add = add  # type: ignore[method-assign]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(RUNNER), client, proxy.gateway_url, compress, "25", "1", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(40):
                stdout, stderr = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    lines = stdout.decode().strip().splitlines()
    assert lines, f"{client} printed nothing; stderr:\n{stderr.decode()[-3000:]}"
    result = json.loads(lines[-1])
    assert "error" not in result, (result, stderr.decode()[-3000:])
    return result, sessions, out, stdout.decode() + stderr.decode()


@pytest.mark.parametrize("client", ["discordpy", "hikari"])
async def test_a_bot_resumes_through_the_proxy_without_losing_a_message(client: str) -> None:
    pytest.importorskip("discord" if client == "discordpy" else "hikari")
    pytest.importorskip("zstandard")
    runs = await asyncio.gather(*(run_through_proxy(c, z) for c, z in RUNS if c == client))
    for result, sessions, out, printed in runs:
        assert result["readies"] == 1 and result["resumes"] >= 1 and result["guilds"] == 2
        assert len(sessions) == 1  # resumed, never identified again
        sent = [str(e.d["id"]) for _, e in sessions[0].buffer if e.t == "MESSAGE_CREATE"]
        got = [m for m in result["messages"] if m in set(sent)]
        assert len(got) >= 25 and got == sent[: len(got)]
        assert out.failures == []
        assert any(note.startswith("bot #2 connected (resume, json, ") for note in out.notes)
        no_token(out.text(), printed)
