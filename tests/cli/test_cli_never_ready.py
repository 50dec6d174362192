"""A run that never reached READY is a failure a script can see: exit 1 and one line
saying which shard and why, instead of retrying until --duration and exiting 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from conftest import birbctl_async, running_emulator
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def error_line(code: int, err: bytes) -> str:
    """The last stderr line, checked to be the house error shape."""
    assert code == 1, err
    text = err.decode()
    assert "Traceback" not in text and TOKEN not in text
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith("birbctl: error: "), text
    return last


@pytest.mark.parametrize("command", ["connect", "tail"])
async def test_unreachable_gateway_exits_1_saying_why(env: dict[str, str], command: str) -> None:
    url = f"ws://127.0.0.1:{closed_port()}"
    code, _, err = await birbctl_async(env, command, "--gateway-url", url, "--duration", "1.5")
    assert error_line(code, err) == (
        f"birbctl: error: shard 0 never reached READY in 1.5 s: "
        f"last: could not connect to {url}: connection refused"
    )


@asynccontextmanager
async def refusing_gateway() -> AsyncIterator[str]:
    """A gateway that says HELLO, then closes every IDENTIFY with 4000 (retryable)."""

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}}))
            async for message in ws:
                if json.loads(message).get("op") == 2:
                    await ws.close(4000, "try again")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def test_identify_always_closed_exits_1_with_the_close(env: dict[str, str]) -> None:
    async with refusing_gateway() as url:
        code, _, err = await birbctl_async(
            env, "connect", "--gateway-url", url, "--compress", "none", "--duration", "3"
        )
    assert error_line(code, err) == (
        "birbctl: error: shard 0 never reached READY in 3 s: last: gateway closed the "
        "connection (4000 UNKNOWN_ERROR): unknown error on the gateway's side"
    )


async def test_a_run_that_was_ready_still_exits_0(env: dict[str, str]) -> None:
    async with running_emulator(heartbeat_interval_ms=500) as server:
        code, _, err = await birbctl_async(
            env, "tail", "--gateway-url", server.gateway_url, "--duration", "1.5"
        )
    assert code == 0, err


async def test_count_stopping_before_ready_is_not_a_failure(env: dict[str, str]) -> None:
    """`tail -n 1` stops at HELLO, by request: no READY is owed."""
    async with running_emulator(heartbeat_interval_ms=500) as server:
        async with asyncio.timeout(30):
            code, out, err = await birbctl_async(
                env, "tail", "--gateway-url", server.gateway_url, "-n", "1", "-f", "jsonl"
            )
    assert code == 0, err
    assert len(out.splitlines()) == 1
