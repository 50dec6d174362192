"""Signals stop birbctl cleanly with the shell's exit codes: 130 for SIGINT (Ctrl-C),
143 (128 + 15) for SIGTERM, and a --record capture is still complete."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import birbctl_async, running_emulator

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}


async def signalled(
    env: dict[str, str], args: list[str], ready: Callable[[bytes], bool], signum: int
) -> tuple[int, bytes]:
    """Run `birbctl ARGS`, wait for a stdout line that `ready` accepts, send `signum`;
    (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "birbctl", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            while not ready(line := await proc.stdout.readline()):
                assert line, (await proc.stderr.read()).decode()
            proc.send_signal(signum)
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, err


def status_ready(line: bytes) -> bool:
    return b'"new":"ready"' in line.replace(b" ", b"")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_connect_exit_code_names_the_signal_and_the_capture_is_whole(
    env: dict[str, str], tmp_path: Path, signum: int, code: int
) -> None:
    record = tmp_path / "run.capture"
    async with running_emulator(heartbeat_interval_ms=500, event_rate=20) as server:
        args = ["connect", "--gateway-url", server.gateway_url, "--json", "--record", str(record)]
        got, err = await signalled(env, args, status_ready, signum)
    assert got == code, err
    assert b"Traceback" not in err
    # Complete: the shards closed (the close is the capture's last event) and it decodes.
    last = json.loads(record.read_bytes().splitlines()[-1])
    assert last["kind"] == "close" and last["code"] == 1000
    decoded, out, err = await birbctl_async(env, "decode", str(record))
    assert decoded == 0, err
    assert any(json.loads(line)["t"] == "READY" for line in out.splitlines())


async def test_tail_sigterm_exits_143(env: dict[str, str]) -> None:
    async with running_emulator(heartbeat_interval_ms=500) as server:
        args = ["tail", "--gateway-url", server.gateway_url, "--format", "jsonl"]
        code, err = await signalled(env, args, lambda line: b'"READY"' in line, signal.SIGTERM)
    assert code == 143, err
    assert b"Traceback" not in err


async def test_demo_sigterm_exits_143(env: dict[str, str]) -> None:
    code, err = await signalled(env, ["demo", "--json"], status_ready, signal.SIGTERM)
    assert code == 143, err
    assert b"Traceback" not in err


async def test_serve_sigterm_exits_143(env: dict[str, str]) -> None:
    code, err = await signalled(env, ["serve"], lambda line: line.startswith(b"gateway"), 15)
    assert code == 143, err
    assert err.decode().rstrip().endswith("stopped")
