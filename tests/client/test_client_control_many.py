"""Two real `birbctl connect` processes of one user: a command that changes something
refuses to pick for the user (exit 2, naming them) unless --pid or --all says which;
read-only ones show both; with one left, it acts on that one."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest
from conftest import birbctl_async
from test_client_control import Lines
from test_client_lifecycle import TOKEN, emulator


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    code, out, err = await birbctl_async(env, *args)
    return code, out.decode(), err.decode()


async def test_two_processes_changes_need_pid_or_all(env: dict[str, str]) -> None:
    async with emulator(heartbeat_interval_ms=500, shards=2) as server:
        procs: list[asyncio.subprocess.Process] = []
        lines: list[Lines] = []
        try:
            for args in (["--shard", "0/1"], ["--shards", "2"]):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "birbctl", "connect", "--gateway-url",
                    server.gateway_url, "--json", "--duration", "120", *args,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
                )  # fmt: skip
                procs.append(proc)
                lines.append(Lines(proc))
            marks = [await lines[0].until_status("ready"), await lines[1].until_status("ready")]
            one, two = (str(p.pid) for p in procs)

            # Read-only: both, without asking which.
            code, out, err = await cli(env, "status", "--json")
            assert code == 0, err
            assert sorted(str(a["pid"]) for a in json.loads(out)) == sorted([one, two])

            # Changing, with two running: refused, both named, nothing done.
            for args in (["close", "--code", "1000"], ["reconnect"], ["terminate"]):
                code, out, err = await cli(env, *args)
                assert code == 2 and out == "", err
                assert err.count("\n") == 1 and "Traceback" not in err
                assert err.startswith("birbctl: error: 2 birbctl processes are running (")
                assert err.rstrip().endswith(
                    "pick one with --pid PID, or pass --all to act on every one"
                )
                time = r"\d\d:\d\d:\d\d"
                assert re.search(rf"PID {one} connect, shards 0/1, started {time}", err), err
                assert re.search(rf"PID {two} connect, shards 0/2 1/2, started {time}", err)
            assert all(p.returncode is None for p in procs)

            code, _, err = await cli(env, "terminate", "--pid", one, "--all")
            assert code == 2 and "--pid and --all do not go together" in err

            # --pid picks one: only that one acts.
            code, out, err = await cli(env, "reconnect", "--pid", one)
            assert (code, out) == (0, f"process {one}: reconnect\n"), err
            marks[0] = await lines[0].until_status("resuming", marks[0])
            marks[0] = await lines[0].until_status("ready", marks[0])

            # --all acts on both.
            code, out, err = await cli(env, "terminate", "--all")
            assert code == 0, err
            assert sorted(out.splitlines()) == sorted(
                [f"process {one}: terminate", f"process {two}: terminate"]
            )
            for i in (0, 1):
                marks[i] = await lines[i].until_status("resuming", marks[i])

            # One left: a changing command acts on it without being told which.
            code, _, err = await cli(env, "close", "--code", "1000", "--pid", two)
            assert code == 0, err
            async with asyncio.timeout(15):
                assert await procs[1].wait() == 0
            code, out, err = await cli(env, "close", "--code", "1000")
            assert (code, out) == (0, f"process {one}: close 1000\n"), err
            async with asyncio.timeout(15):
                assert await procs[0].wait() == 0
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
