"""Hostile requests to the control socket of a real running `birbctl connect`: every one
gets one JSON answer with an error in birbctl's words, the process prints no traceback,
and it keeps serving `birbctl status` afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import birbctl_async
from test_client_control import Lines
from test_client_lifecycle import TOKEN, emulator

from birbctl.client.control import MAX_REQUEST, MAX_REQUEST_DEPTH

#: What Python's own parsers and limits say; a user should never read these.
PYTHON_TEXTS = (
    "codec can't",
    "Exceeds the limit",
    "4300",
    "Expecting",
    "line 1 column",
    "(char ",
    "invalid literal",
    "recursion",
    "Traceback",
    "object of type",
    "unhashable",
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}


@asynccontextmanager
async def running_connect(
    env: dict[str, str], url: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """`birbctl connect` at READY, and its control socket's path."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "birbctl", "connect", "--gateway-url", url, "--json",
        "--duration", "120",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        await Lines(proc).until_status("ready")
        yield proc, Path(env["XDG_RUNTIME_DIR"]) / "birbctl" / f"{proc.pid}.sock"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def exchange(path: Path, data: bytes, *, eof: bool = True) -> bytes:
    """Send raw bytes (half-closing after them when `eof`), read the whole answer."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        async with asyncio.timeout(15):
            writer.write(data)
            if eof:
                writer.write_eof()
            await writer.drain()
            return await reader.read()
    finally:
        writer.close()


def refused(answer: bytes) -> str:
    """The one-line JSON refusal's error text, checked to be in birbctl's words."""
    assert answer.endswith(b"\n") and answer.count(b"\n") == 1, answer[:200]
    reply: dict[str, Any] = json.loads(answer)
    assert reply["ok"] is False and isinstance(reply["pid"], int), reply
    error: str = reply["error"]
    assert error.startswith("bad request: "), error
    leaked = [text for text in PYTHON_TEXTS if text in error]
    assert not leaked, f"Python's words in {error!r}"
    return error


def nested(depth: int) -> list[bytes]:
    return [
        b"[" * depth + b"]" * depth,
        b'{"cmd":' * depth + b'"status"' + b"}" * depth,
        b'{"cmd":"status","shard":' + b"[" * depth + b"]" * depth + b"}",
    ]


DEPTHS = [2, 3, 5, 10, 50, 100, 200, 250, 300, 500, 700, 1000, 1300, 1600, 2000]

HOSTILE: dict[bytes, str] = {
    b"": "bad request: not JSON (byte 0)",
    b"null": "bad request: expected a JSON object, got null",
    b"[]": "bad request: expected a JSON object, got an array",
    b'"status"': "bad request: expected a JSON object, got a string",
    b"1": "bad request: expected a JSON object, got a number",
    b"true": "bad request: expected a JSON object, got true or false",
    b'{"cmd":"status"': "bad request: not JSON (byte 15)",
    b'{"cmd":"st\xffatus"}': "bad request: not UTF-8 text (byte 10)",
    b'\xc3{"cmd":"status"}': "bad request: not UTF-8 text (byte 0)",
    b'{"cmd":"st\xed\xa0\x80"}': "bad request: not UTF-8 text (byte 10)",
    b'{"cmd":1}': "bad request: cmd must be a command name, got a number",
    b"{}": "bad request: cmd must be a command name, got null",
    b'{"cmd":"reboot"}': 'bad request: unknown command "reboot" (commands: status, '
    "ping, reconnect, terminate, close)",
    b'{"cmd":"' + b"x" * 3000 + b'"}': 'bad request: unknown command "'
    + "x" * 32
    + '..." (commands: status, ping, reconnect, terminate, close)',
    b'{"cmd":"status","token":"x"}': 'bad request: unknown field "token" (fields: cmd, '
    "shard, fresh, code)",
    b'{"cmd":"close","code":"1000"}': "bad request: code must be a whole number, got a string",
    b'{"cmd":"close","code":1000.0}': "bad request: code must be a whole number, got a number",
    b'{"cmd":"close","code":true}': "bad request: code must be a whole number, got true or false",
    b'{"cmd":"reconnect","fresh":"yes"}': "bad request: fresh must be true or false, got a string",
    b'{"cmd":"status","shard":true}': "bad request: shard must be a shard id: a whole "
    "number, 0 to 4294967295",
    b'{"cmd":"status","shard":-1}': "bad request: shard must be a shard id: a whole "
    "number, 0 to 4294967295",
    b'{"cmd":"status","shard":1e999}': "bad request: shard must be a shard id: a whole "
    "number, 0 to 4294967295",
    b'{"cmd":"close","code":' + b"9" * 21 + b"}": "bad request: a number longer than 20 digits",
    b'{"cmd":"close","code":' + b"9" * 4000 + b"}": "bad request: a number longer than 20 digits",
    b'{"cmd":"close","code":-' + b"9" * 4000 + b"}": "bad request: a number longer than 20 digits",
    b'{"cmd":"close","code":NaN}': "bad request: NaN is not a JSON number",
    b'{"cmd":"close","code":-Infinity}': "bad request: -Infinity is not a JSON number",
    b"x" * (MAX_REQUEST + 1): f"bad request: longer than {MAX_REQUEST} bytes",
}


async def test_hostile_requests_get_clean_refusals_and_serving_goes_on(
    env: dict[str, str],
) -> None:
    async with (
        emulator(heartbeat_interval_ms=500) as server,
        running_connect(env, server.gateway_url) as (proc, path),
    ):
        for line, expected in HOSTILE.items():
            assert refused(await exchange(path, line + b"\n")) == expected, line[:80]

        for depth in DEPTHS:
            for line in nested(depth):
                error = refused(await exchange(path, line + b"\n"))
                if len(line) > MAX_REQUEST:
                    assert error == f"bad request: longer than {MAX_REQUEST} bytes"
                elif depth > MAX_REQUEST_DEPTH:
                    deeper = f"nested deeper than {MAX_REQUEST_DEPTH} levels"
                    assert error == f"bad request: {deeper}", line[:80]

        # Far over the limit, sent all at once: refused, not left hanging or reset.
        error = refused(await exchange(path, b"[" * 1_000_000 + b"\n"))
        assert error == f"bad request: longer than {MAX_REQUEST} bytes"
        # Half a request, then the client closes its side.
        error = refused(await exchange(path, b'{"cmd":"sta'))
        assert error == "bad request: the connection ended before the request's newline"
        # Half a request, then gone altogether; and a client that says nothing.
        for data in (b'{"cmd":"sta', b""):
            _, writer = await asyncio.open_unix_connection(str(path))
            writer.write(data)
            await writer.drain()
            writer.close()
        # Many at once.
        answers = await asyncio.gather(
            *(exchange(path, b"[" * d + b"]" * d + b"\n") for d in range(1, 60))
        )
        assert all(refused(answer) for answer in answers)

        # Still serving, and still doing what it is told.
        code, out, err = await birbctl_async(env, "status", "--json")
        assert code == 0, err
        [answer] = json.loads(out)
        assert answer["ok"] and answer["shards"][0]["status"] == "ready"
        reply = json.loads(await exchange(path, b'{"cmd":"ping","shard":0}\n'))
        assert reply["ok"] is True

        proc.terminate()
        async with asyncio.timeout(15):
            _, stderr = await proc.communicate()
    assert proc.returncode == 143
    assert b"Traceback" not in stderr and b"Error" not in stderr, stderr.decode()[-2000:]


async def test_a_refusal_prints_as_one_line(env: dict[str, str]) -> None:
    """What the process refuses, the command prints as one error line (exit 1)."""
    async with (
        emulator(heartbeat_interval_ms=500) as server,
        running_connect(env, server.gateway_url) as (proc, _),
    ):
        code, _, err = await birbctl_async(env, "terminate", "--shard", "7")
        assert code == 1
        assert err.decode() == (
            f"birbctl: error: process {proc.pid}: no shard 7 here (shards: [0])\n"
        )
        code, _, err = await birbctl_async(env, "close", "--code", "5000")
        assert code == 2
        assert err.decode() == "birbctl: error: --code 5000: use 1000, 1001 or 3000-4999\n"
