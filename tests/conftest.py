"""Shared fixtures: where the real-gateway vectors live, and stream builders."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from birbctl.transport.deflate import ZlibStreamDeflater, ZstdStreamDeflater

if TYPE_CHECKING:
    from birbctl.emulator.server import EmulatorServer

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"


@pytest.fixture
def vectors() -> Path:
    """../shared/vectors (real gateway bytes); tests that need it skip when absent."""
    if not VECTORS.is_dir():
        pytest.skip("../shared/vectors is not here")
    return VECTORS


def twins(name: str, python: object, c: object, *, built: bool) -> pytest.MarkDecorator:
    """Runs a test on a rule in Python, then on its C twin (skipped where the C
    extension was not built, as pip leaves it without a compiler)."""
    c_param = pytest.param(
        c, id="c", marks=pytest.mark.skipif(not built, reason="the C twin was not built")
    )
    return pytest.mark.parametrize(name, [pytest.param(python, id="python"), c_param])


def load_expected(path: Path) -> Any:
    return json.loads(path.read_text())


def zlib_stream(messages: list[bytes]) -> list[bytes]:
    """Frames as Discord sends them: one deflate context, a sync flush per message."""
    deflater = ZlibStreamDeflater()
    return [deflater.frame(m) for m in messages]


def zstd_stream(messages: list[bytes], *, frame_per_message: bool = False) -> list[bytes]:
    """zstd-stream frames: one context, each message flushed (the zstd frame never ends),
    or, as some servers do, a whole zstd frame per message."""
    deflater = ZstdStreamDeflater(frame_per_message=frame_per_message)
    return [deflater.frame(m) for m in messages]


@pytest.fixture
def make_zlib_stream() -> Callable[[list[bytes]], list[bytes]]:
    return zlib_stream


@pytest.fixture
def make_zstd_stream() -> Callable[..., list[bytes]]:
    return zstd_stream


# --- running birbctl as a user does: a real process --------------------------------------


def birbctl(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`birbctl ARGS` in a subprocess, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "birbctl", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
        env=env,
    )


async def birbctl_async(env: dict[str, str], *args: str) -> tuple[int, bytes, bytes]:
    """The same from async tests, so an in-process emulator keeps serving meanwhile."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "birbctl", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out, err


def one_line_error(result: subprocess.CompletedProcess[bytes], code: int = 3) -> str:
    """Assert the house error shape: exit `code`, one `birbctl: error:` line, no traceback."""
    assert result.returncode == code, result.stderr
    err = result.stderr.decode()
    assert err.startswith("birbctl: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# --- the project's own emulator, in-process on 127.0.0.1 ---------------------------------


@contextlib.asynccontextmanager
async def running_emulator(**overrides: Any) -> AsyncIterator[EmulatorServer]:
    """An EmulatorServer on a free loopback port for the length of the block."""
    from birbctl.emulator.config import EmulatorConfig
    from birbctl.emulator.server import EmulatorServer

    server = EmulatorServer(replace(EmulatorConfig(), **overrides))
    await server.start()
    try:
        yield server
    finally:
        async with asyncio.timeout(5):
            await server.stop()


def assert_quiet_on_closed_pipe(*args: str) -> None:
    """`birbctl ARGS | head -1`: once the reader has gone, exit 0 with nothing on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "birbctl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    try:
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    assert proc.stderr.read() == b""
