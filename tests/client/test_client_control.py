"""Control of a running `birbctl connect` in a subprocess: status, ping, reconnect,
terminate and close act on it through its Unix socket."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import birbctl_async
from test_client_lifecycle import TOKEN, emulator

from birbctl.client.control import control_dir, running_processes
from birbctl.client.snapshot import ProcessPings, ProcessSnapshot
from birbctl.errors import ConfigError


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    code, out, err = await birbctl_async(env, *args)
    return code, out.decode(), err.decode()


class Lines:
    """JSON Lines from the connect subprocess, read with a bound on time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        self.stream = proc.stdout
        self.seen: list[dict[str, Any]] = []

    async def until_status(self, status: str, after: int = 0, timeout: float = 15) -> int:
        async with asyncio.timeout(timeout):
            while True:
                for i in range(after, len(self.seen)):
                    rec = self.seen[i]
                    if rec.get("event") == "status" and rec["new"] == status:
                        return i + 1
                line = await self.stream.readline()
                if not line:
                    raise AssertionError(f"connect ended before {status}: {self.seen[-5:]}")
                self.seen.append(json.loads(line))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}


async def test_control_commands_act_on_a_running_connect(env: dict[str, str]) -> None:
    async with emulator(heartbeat_interval_ms=500) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "birbctl", "connect", "--gateway-url", server.gateway_url,
            "--json", "--duration", "60",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            lines = Lines(proc)
            at = await lines.until_status("ready")
            # The token never shows in the process's argv.
            cmdline = Path(f"/proc/{proc.pid}/cmdline")
            if cmdline.exists():
                assert TOKEN.encode() not in cmdline.read_bytes()

            code, out, err = await cli(env, "status", "--json")
            assert code == 0, err
            [answer] = json.loads(out)
            assert answer["pid"] == proc.pid and answer["command"] == "connect"
            assert answer["shards"][0]["status"] == "ready"
            # The JSON form reads back into the typed snapshot, every field present.
            status = ProcessSnapshot.from_json(answer)
            assert status.shards[0].session_id and status.shards[0].events >= 1

            code, out, err = await cli(env, "ping", "--json")
            assert code == 0, err
            assert "p95" in json.loads(out)[0]["shards"][0]
            assert ProcessPings.from_json(json.loads(out)[0]).shards[0].shard == (0, 1)

            code, out, _ = await cli(env, "status")
            assert code == 0 and "connect" in out and "ready" in out

            code, out, err = await cli(env, "reconnect")
            assert code == 0 and "reconnect" in out, err
            at = await lines.until_status("resuming", at)
            at = await lines.until_status("ready", at)

            code, _, err = await cli(env, "terminate", "--pid", str(proc.pid))
            assert code == 0, err
            at = await lines.until_status("resuming", at)
            at = await lines.until_status("ready", at)

            code, _, err = await cli(env, "reconnect", "--fresh")
            assert code == 0, err
            at = await lines.until_status("identifying", at)
            at = await lines.until_status("ready", at)

            code, out, err = await cli(env, "close", "--code", "4000")
            assert code == 0 and "close 4000" in out, err
            at = await lines.until_status("resuming", at)  # 4000-range closes resume
            at = await lines.until_status("ready", at)

            code, _, err = await cli(env, "close", "--code", "1000")
            assert code == 0, err
            async with asyncio.timeout(15):
                assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    # The socket is gone with the process.
    assert running_processes(Path(env["XDG_RUNTIME_DIR"]) / "birbctl") == []


async def test_no_running_process_is_a_clear_error(env: dict[str, str]) -> None:
    code, _, err = await cli(env, "status")
    assert code == 1
    assert err.startswith("birbctl: error: no running birbctl process")
    code, _, err = await cli(env, "close", "--code", "1000", "--pid", "999999")
    assert code == 1 and "no running birbctl process 999999" in err
    # The option's old name still works, hidden from --help.
    code, _, err = await cli(env, "close", "--code", "1000", "--session", "999999")
    assert code == 1 and "no running birbctl process 999999" in err
    code, _, err = await cli(env, "terminate", "--pid", "5", "--session", "6")
    assert code == 2 and "--pid 5 and --session 6 name different processes" in err
    code, _, err = await cli(env, "terminate", "--pid", "abc")
    assert code == 2 and "Traceback" not in err
    code, out, _ = await cli(env, "terminate", "--help")
    assert code == 0 and "--pid" in out and "--session" not in out


def test_control_dir_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    path = control_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    path.chmod(0o755)
    with pytest.raises(ConfigError, match="open to other users"):
        control_dir()


async def test_fatal_close_exits_4_naming_the_code(env: dict[str, str]) -> None:
    async with emulator(tokens=frozenset({"MTE.x.y"})) as server:
        code, out, err = await cli(env, "connect", "--gateway-url", server.gateway_url)
    assert code == 4
    last = err.strip().splitlines()[-1]
    assert last.startswith("birbctl: error: ") and "4004" in last and "token" in last
    assert "Traceback" not in err and TOKEN not in out + err


async def test_servers_starting_at_once_leave_the_process_umask_alone(tmp_path: Path) -> None:
    from birbctl.client.control import ControlServer

    dirs = [tmp_path / name for name in ("a", "b", "c")]
    for directory in dirs:
        directory.mkdir(mode=0o700)
    before = os.umask(0o022)
    try:
        servers = [ControlServer(lambda _request: {}, command="t", directory=d) for d in dirs]
        await asyncio.gather(*(server.start() for server in servers))
        try:
            assert os.umask(0o022) == 0o022  # what the process had, not a socket's 0o177
            for server in servers:
                assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
        finally:
            await asyncio.gather(*(server.stop() for server in servers))
    finally:
        os.umask(before)
