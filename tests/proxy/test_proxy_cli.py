"""`birbctl proxy` as a user runs it: the URLs first, a line per REST call and per bot
connection, signals ending it with the shell's codes, usage errors in one line, and the
token in none of it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from conftest import birbctl, birbctl_async, one_line_error, running_emulator
from proxy_harness import (
    FAST_HEARTBEATS,
    TOKEN,
    no_token,
    running_upstream,
    self_signed,
    server_context,
)


class ProxyProcess:
    """`birbctl proxy ARGS` in a subprocess; `rest` is the URL it printed."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.head: list[str] = []
        self.rest = ""

    @classmethod
    async def start(cls, *args: str) -> ProxyProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "birbctl", "proxy", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self = cls(proc)
        assert proc.stdout is not None and proc.stderr is not None
        async with asyncio.timeout(30):
            for _ in range(4):
                line = (await proc.stdout.readline()).decode()
                assert line, (await proc.stderr.read()).decode()
                self.head.append(line)
        assert self.head[0].startswith("gateway  ws://127.0.0.1:"), self.head
        self.rest = self.head[1].split()[1]
        assert self.head[2].startswith("admin    http://127.0.0.1:"), self.head
        assert self.head[3].startswith("upstream "), self.head
        return self

    async def readline_until(self, text: str) -> list[str]:
        """stdout lines up to and including one that holds `text`."""
        assert self.proc.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(30):
            for _ in range(200):
                line = (await self.proc.stdout.readline()).decode()
                assert line, f"ended before {text!r}: {lines}"
                lines.append(line)
                if text in line:
                    return lines
        raise AssertionError(f"no {text!r} in {lines}")

    async def stop(self, signum: int) -> tuple[int, str, str]:
        self.proc.send_signal(signum)
        try:
            async with asyncio.timeout(30):
                out, err = await self.proc.communicate()
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_bot_through_the_proxy_process_and_a_signal_to_end_it(
    tmp_path: Path, signum: int, code: int
) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    async with running_emulator(**FAST_HEARTBEATS, event_rate=20) as emulator:
        proxy = await ProxyProcess.start("--upstream", emulator.rest_url)
        try:
            assert proxy.rest.endswith("/api/v10")
            got, stdout, stderr = await birbctl_async(
                env, "connect", "--api-url", proxy.rest, "--json", "--duration", "1",
            )  # fmt: skip
            assert got == 0, stderr.decode()
            lines = await proxy.readline_until("closed by")
        finally:
            exit_code, rest, err = await proxy.stop(signum)
    assert exit_code == code, err
    assert err == ""
    rest_call, opened, closed = (line.split(" ", 1)[1].rstrip("\n") for line in lines)
    assert rest_call.startswith("GET /gateway/bot 200 ") and rest_call.endswith(" ms")
    assert opened.startswith("bot #1 connected (new, json, zlib-stream) -> ws://127.0.0.1:")
    assert closed == "bot #1 shard 0/1 closed by bot 1000 (birbctl is stopping)"
    no_token("".join(proxy.head), "".join(lines), rest, err, stdout, stderr)


def test_duration_ends_it_with_zero() -> None:
    result = birbctl("proxy", "--upstream", "http://127.0.0.1:9/api/v10", "--duration", "0.2")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode().splitlines()
    assert out[0].startswith("gateway  ws://127.0.0.1:")
    assert out[1].startswith("rest     http://127.0.0.1:") and out[1].endswith("/api/v10")
    assert out[2].startswith("admin    http://127.0.0.1:") and "/_birbctl/faults?" in out[2]
    assert out[3] == "upstream http://127.0.0.1:9/api/v10; 0 fault step(s); Ctrl-C stops"
    assert result.stderr == b""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--listen", "0.0.0.0:0"], "not a loopback address"),
        (["--listen", "127.0.0.1"], "expected HOST:PORT"),
        (["--listen", "127.0.0.1:http"], "the port is not a number"),
        (["--upstream", "ftp://example.com/api"], "--upstream must be an http(s):// URL"),
        (["--upstream-ca", "/nonexistent/ca.pem"], "--upstream-ca /nonexistent/ca.pem"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], words: str) -> None:
    err = one_line_error(birbctl("proxy", *args, "--duration", "0"), code=2)
    assert words in err


async def test_an_untrusted_upstream_certificate_is_one_line_on_stderr(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with running_upstream(server_context(cert, key)) as upstream:
        proxy = await ProxyProcess.start("--upstream", upstream.api_url)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    proxy.rest + "/users/@me", headers={"Authorization": f"Bot {TOKEN}"}
                ) as answer,
            ):
                assert answer.status == 502
            lines = await proxy.readline_until("GET /users/@me 502")
        finally:
            code, out, err = await proxy.stop(signal.SIGINT)
        trusted = await ProxyProcess.start(
            "--upstream", upstream.api_url, "--upstream-ca", str(cert)
        )
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(trusted.rest + "/users/@me", headers={"Authorization": "Bot x"}) as ok,
            ):
                assert ok.status == 201
        finally:
            await trusted.stop(signal.SIGINT)
    assert code == 130
    (line,) = err.splitlines()
    assert line.endswith(
        f"upstream https://127.0.0.1:{upstream.port}: certificate refused (self-signed "
        "certificate); pass --upstream-ca FILE to trust its CA"
    )
    no_token("".join(lines), out, err)


async def test_a_malformed_request_is_one_line_and_no_traceback() -> None:
    proxy = await ProxyProcess.start("--upstream", "http://127.0.0.1:9/api/v10")
    try:
        port = int(proxy.head[0].rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GARBAGE {TOKEN}\r\nAuthorization: Bot {TOKEN}\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
        writer.close()
        assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    finally:
        code, out, err = await proxy.stop(signal.SIGINT)
    assert code == 130
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 1, err
    no_token(out, err)


def test_aiohttp_errors_are_one_line_naming_only_the_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    from birbctl.cli.proxy import _aiohttp_logs_in_one_line

    logger = logging.getLogger("aiohttp")
    monkeypatch.setattr(logger, "handlers", list(logger.handlers))
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    lines: list[str] = []
    _aiohttp_logs_in_one_line(lines.append)
    try:
        raise ValueError(f"a request quoting {TOKEN}")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request\nsecond line")
    logging.getLogger("aiohttp.access").info("not shown: below WARNING")
    assert lines == ["Error handling request (ValueError)"]
