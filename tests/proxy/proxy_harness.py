"""Helpers for the proxy's I/O tests: the proxy in-process, a tiny upstream of the test's
own (an aiohttp app that records what reaches it), and a self-signed certificate."""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from birbctl.emulator.faults import FaultStep
from birbctl.proxy.rest import RestCall
from birbctl.proxy.server import ProxyConfig, ProxyServer

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"
#: The part of the token that must appear in no output (the first part is the bot's id).
SECRET = "tOpSeCrEtToKeNvAlUe"
HELLO = '{"op":10,"d":{"heartbeat_interval":41250},"s":null,"t":null}'
#: An upstream emulator for bots started as processes: heartbeats every 0.3 s, so they
#: happen within a short test, and a patient grace (5 intervals, where Discord's default
#: here is 1.5), so that a bot slowed by a busy machine is not closed with 4000 before
#: its first heartbeat, which has nothing to do with what these tests check.
FAST_HEARTBEATS: dict[str, float] = {"heartbeat_interval_ms": 300, "heartbeat_grace": 5.0}


@dataclass
class ProxyOutput:
    """Everything the proxy reported, to check and to scan for the token."""

    calls: list[RestCall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join([*(c.line() for c in self.calls), *self.notes, *self.failures])


@contextlib.asynccontextmanager
async def running_proxy(
    upstream: str, *, upstream_ca: str | None = None, steps: tuple[FaultStep, ...] = ()
) -> AsyncIterator[tuple[ProxyServer, ProxyOutput]]:
    output = ProxyOutput()
    proxy = ProxyServer(
        ProxyConfig(upstream=upstream, upstream_ca=upstream_ca, steps=steps, seed=1),
        on_rest=output.calls.append,
        on_note=output.notes.append,
        on_failure=output.failures.append,
    )
    async with proxy:
        yield proxy, output


@dataclass
class Received:
    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class FakeUpstream:
    """A tiny upstream: REST that records each request and answers with rate-limit
    headers, GET /api/v10/gateway naming its own websocket, and a websocket that sends
    HELLO, echoes text and binary frames, and closes as a test tells it."""

    received: list[Received] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)  # what each bot-side close was
    #: Set by a test: on the next text frame "close", close with this code (None: drop).
    close_with: int | None = 4004
    scheme: str = "http"
    port: int = 0

    @property
    def api_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/api/v10"

    async def rest(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            Received(request.method, request.path_qs, list(request.headers.items()), body)
        )
        if request.path == "/api/v10/gateway":
            ws = "wss" if self.scheme == "https" else "ws"
            return web.json_response({"url": f"{ws}://127.0.0.1:{self.port}"})
        headers = {
            "X-RateLimit-Bucket": "abcd1234",
            "X-RateLimit-Remaining": "4",
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Reset-After": "1.000",
            "Content-Type": "application/json",
        }
        answer = b'{"echo":' + str(len(body)).encode() + b',"method":"' + request.method.encode()
        return web.Response(status=201, reason="Created", body=answer + b'"}', headers=headers)

    async def gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        await ws.send_str(HELLO)
        async for message in ws:
            if message.type is WSMsgType.TEXT and message.data == "close":
                if self.close_with is None:
                    assert request.transport is not None
                    request.transport.abort()
                    break
                await ws.close(code=self.close_with, message=b"told to")
                break
            if message.type is WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type is WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        self.closes.append(ws.close_code)
        return ws

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            return await self.rest(request)
        return await self.gateway(request)


@contextlib.asynccontextmanager
async def running_upstream(
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream(scheme="https" if ssl_context is not None else "http")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", upstream.dispatch)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    upstream.port = int(runner.addresses[0][1])
    try:
        yield upstream
    finally:
        await runner.cleanup()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, made with the openssl command (skip without it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    cert, key = directory / "upstream.pem", directory / "upstream.key"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def no_token(*texts: Any, find: Callable[[str], bool] = lambda text: SECRET in text) -> None:
    """Assert no text (str or bytes) holds the token's secret part."""
    for text in texts:
        shown = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        assert not find(shown), f"the token leaked: {shown[:200]!r}"


@dataclass
class ProxyRun:
    """`birbctl proxy ARGS` as a process, stdout and stderr into files (a pipe nobody
    reads would fill and stall it); `rest` is the URL it printed, `code` its exit."""

    proc: Any
    stdout: Path
    stderr: Path
    rest: str = ""
    code: int | None = None

    def out(self) -> bytes:
        return self.stdout.read_bytes()

    def err(self) -> str:
        return self.stderr.read_text()


@contextlib.asynccontextmanager
async def proxy_process(directory: Path, *args: str) -> AsyncIterator[ProxyRun]:
    """The proxy running until the block ends, then stopped with SIGINT (exit 130).
    The URLs are read from whichever stream they went to (stderr with --format)."""
    import asyncio
    import signal
    import sys

    directory.mkdir(parents=True, exist_ok=True)
    run = ProxyRun(None, directory / "proxy.out", directory / "proxy.err")
    with run.stdout.open("wb") as out, run.stderr.open("wb") as err:
        run.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "birbctl", "proxy", *args, stdout=out, stderr=err
        )
    try:
        async with asyncio.timeout(30):
            while not run.rest:
                for text in (run.stdout.read_bytes(), run.stderr.read_bytes()):
                    for line in text.decode(errors="replace").splitlines():
                        if line.startswith("rest     http://"):
                            run.rest = line.split()[1]
                if run.proc.returncode is not None:
                    raise AssertionError(f"the proxy ended: {run.err()}")
                await asyncio.sleep(0.05)
        yield run
    finally:
        if run.proc.returncode is None:
            run.proc.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(30):
                run.code = await run.proc.wait()
        finally:
            if run.proc.returncode is None:
                run.proc.kill()
                await run.proc.wait()
