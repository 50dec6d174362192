"""`birbctl status` and `ping` see a running proxy's bot connections as its shards, over
the same control socket and snapshots as `connect`; `reconnect`, `terminate` and `close`
act on them: the bot sees its gateway close (or drop) and recovers on its own, while the
upstream session stays resumable; `reconnect --fresh` ends it upstream too."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import birbctl_async, running_emulator
from proxy_harness import TOKEN, no_token, proxy_process

from birbctl.client.snapshot import ProcessPings, ProcessSnapshot


async def proxy_answer(env: dict[str, str], cmd: str, pid: int) -> dict[str, Any]:
    code, out, err = await birbctl_async(env, cmd, "--json", "--pid", str(pid))
    assert code == 0, err
    [answer] = json.loads(out)
    assert answer["pid"] == pid and answer["command"] == "proxy", answer
    return dict(answer)


async def test_status_and_ping_show_each_bot_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))  # the proxy process inherits it
    env = {**os.environ, "DISCORD_TOKEN": TOKEN}
    async with (
        running_emulator(heartbeat_interval_ms=200) as emulator,
        proxy_process(tmp_path / "proxy", "--upstream", emulator.rest_url) as proxy,
    ):
        pid = proxy.proc.pid
        idle = ProcessSnapshot.from_json(await proxy_answer(env, "status", pid))
        assert idle.shards == ()  # no bot yet
        bot = asyncio.create_task(
            birbctl_async(env, "connect", "--api-url", proxy.rest, "--json", "--duration", "15")
        )
        try:
            async with asyncio.timeout(20):
                while True:
                    status = ProcessSnapshot.from_json(await proxy_answer(env, "status", pid))
                    pings = ProcessPings.from_json(await proxy_answer(env, "ping", pid))
                    if (
                        [s.status for s in status.shards] == ["ready"]
                        and pings.shards
                        and pings.shards[0].samples >= 2
                    ):
                        break
                    await asyncio.sleep(0.2)
            [shard] = status.shards
            assert shard.shard == (0, 1) and shard.session_id and shard.seq is not None
            assert shard.url.startswith(emulator.gateway_url.split("/?")[0])
            [ping] = pings.shards
            assert ping.p50 is not None and 0 <= ping.p50 < 1000 and len(ping.history) >= 2

            session = shard.session_id

            async def act(*args: str) -> str:
                code, said, err = await birbctl_async(env, *args, "--pid", str(pid))
                assert code == 0, err
                return said.decode().strip()

            async def connected(number: int) -> str:
                """The proxy's line for bot connection `number`, once it is READY."""
                async with asyncio.timeout(20):
                    while True:
                        lines = proxy.out().decode().splitlines()
                        opened = [x for x in lines if f" bot #{number} connected (" in x]
                        status = ProcessSnapshot.from_json(await proxy_answer(env, "status", pid))
                        if opened and [s.status for s in status.shards] == ["ready"]:
                            return opened[0]
                        await asyncio.sleep(0.1)

            said = await act("reconnect")
            assert said == f"process {pid}: bot #1: closed with 4000"
            assert "(resume, json, zlib-stream)" in await connected(2)
            assert await act("terminate") == f"process {pid}: bot #2: dropped"
            assert "(resume, json, zlib-stream)" in await connected(3)
            said = await act("close", "--code", "4000")
            assert said == f"process {pid}: bot #3: closed with 4000"
            assert "(resume, json, zlib-stream)" in await connected(4)
            assert emulator.ctx.records.get(session) is not None  # resumed each time
            said = await act("reconnect", "--fresh")
            assert said == f"process {pid}: bot #4: op 9 (not resumable) sent"
            assert "(new, json, zlib-stream)" in await connected(5)
            assert emulator.ctx.records.get(session) is None  # ended upstream, not left over
            status = ProcessSnapshot.from_json(await proxy_answer(env, "status", pid))
            assert status.shards[0].session_id != session

            code, _, refused = await birbctl_async(
                env, "close", "--code", "4000", "--shard", "3", "--pid", str(pid)
            )
            said = refused.decode()
            assert code == 1 and "no bot connection of shard 3 is open" in said, said
            assert said.count("\n") == 1 and "Traceback" not in said
        finally:
            code, out, err = await bot
        assert code == 0, err
    no_token(proxy.out(), proxy.err(), out, err)
