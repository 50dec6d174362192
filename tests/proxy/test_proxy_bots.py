"""Real bots through the proxy to the emulator: discord.py and hikari (test extras) reach
READY, and an op 7 (the upstream's, or the proxy's own fault) or `birbctl reconnect` from
another process makes them RESUME through the proxy's resume URL to the upstream's, with
no message lost, repeated or reordered. The clients run in subprocesses
(tests/emulator/conformance_runner.py), pointed at the proxy's port."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import running_emulator
from proxy_harness import ProxyOutput, no_token, running_proxy

from birbctl.client.control import ControlServer
from birbctl.emulator.faults import parse_fault_flag
from birbctl.emulator.sessions import SessionRecord
from birbctl.proxy.control import proxy_handler
from birbctl.proxy.server import ProxyServer

RUNNER = Path(__file__).resolve().parents[1] / "emulator" / "conformance_runner.py"
RUNS = [("discordpy", "zlib-stream"), ("discordpy", "zstd-stream"),
        ("hikari", "zlib-stream"), ("hikari", "zstd-stream")]  # fmt: skip
#: Who makes the bot resume: the upstream's op 7, the proxy's own op 7 (a fault step), or
#: `birbctl reconnect` from another process (the proxy closes toward the bot with 4000).
HOW = ("upstream-op7", "proxy-op7", "birbctl-reconnect")
AFTER = "after_events=5 action=reconnect"


async def reconnect_from_another_process(proxy: ProxyServer, runtime: Path) -> str:
    """Once the bot's session has had a few dispatches, `birbctl reconnect --pid` (this
    test process serves the proxy's control socket); returns what it printed."""
    async with asyncio.timeout(30):
        while not any(r.status.value == "ready" and r.events >= 6 for r in proxy.relays.values()):
            await asyncio.sleep(0.05)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "birbctl", "reconnect", "--pid", str(os.getpid()),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def run_through_proxy(
    client: str, compress: str, how: str, runtime: Path
) -> tuple[Any, list[SessionRecord], ProxyOutput, str]:
    runtime = runtime / compress  # one control socket per proxy (they share this pid)
    (runtime / "birbctl").mkdir(mode=0o700, parents=True)
    upstream_steps = (parse_fault_flag(AFTER),) if how == "upstream-op7" else ()
    proxy_steps = (parse_fault_flag(AFTER),) if how == "proxy-op7" else ()
    async with (
        running_emulator(guilds=2, event_rate=50, seed=7, steps=upstream_steps) as emulator,
        running_proxy(emulator.rest_url, steps=proxy_steps) as (proxy, out),
        ControlServer(proxy_handler(proxy), command="proxy", directory=runtime / "birbctl"),
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
        said = ""
        try:
            if how == "birbctl-reconnect":
                said = await reconnect_from_another_process(proxy, runtime)
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
    if how == "birbctl-reconnect":
        assert said.strip() == f"process {os.getpid()}: bot #1: closed with 4000", said
    return result, sessions, out, stdout.decode() + stderr.decode() + said


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("client", ["discordpy", "hikari"])
async def test_a_bot_resumes_through_the_proxy_without_losing_a_message(
    client: str, how: str, tmp_path: Path
) -> None:
    pytest.importorskip("discord" if client == "discordpy" else "hikari")
    pytest.importorskip("zstandard")
    runtime = tmp_path / "run"
    runs = await asyncio.gather(
        *(run_through_proxy(c, z, how, runtime) for c, z in RUNS if c == client)
    )
    for result, sessions, out, printed in runs:
        assert result["readies"] == 1 and result["resumes"] >= 1 and result["guilds"] == 2
        assert len(sessions) == 1  # resumed, never identified again
        # Every MESSAGE_CREATE of the upstream session, in order, none twice: the bot's
        # own sequence matches the session's from its start.
        sent = [str(e.d["id"]) for _, e in sessions[0].buffer if e.t == "MESSAGE_CREATE"]
        got = [m for m in result["messages"] if m in set(sent)]
        assert len(got) >= 25 and got == sent[: len(got)]
        assert out.failures == []
        assert any(note.startswith("bot #2 connected (resume, json, ") for note in out.notes)
        if how == "proxy-op7":
            assert any("fault reconnect (step, after_events)" in n for n in out.notes), out.notes
        no_token(out.text(), printed)
