"""`birbctl serve` as a user runs it: URLs printed, REST answers, Ctrl-C exits 0."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request

from typer.testing import CliRunner

from birbctl.cli.app import app
from birbctl.errors import ConfigError

SECRET = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.sEcReTvAlUeThAtMuStNeVeRsHoW"


def test_serve_prints_urls_answers_rest_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "birbctl", "serve", "--token", SECRET, "--event-rate", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        rest = re.search(r"rest\s+(\S+)", "".join(lines))
        assert rest, lines
        request = urllib.request.Request(
            rest.group(1) + "/users/@me", headers={"Authorization": f"Bot {SECRET}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["bot"] is True
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert SECRET not in "".join(lines) + out + err


def test_serve_refuses_a_public_host() -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert isinstance(result.exception, ConfigError)  # main() makes it exit code 2
    assert "--allow-remote" in str(result.exception)


def test_serve_rejects_a_bad_scenario(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "bad.toml"
    path.write_text("[[step]]\nat = 1\naction = 'explode'\n")
    result = CliRunner().invoke(app, ["serve", "--scenario", str(path)])
    assert isinstance(result.exception, ConfigError)
    assert "explode" in str(result.exception)


def test_serve_rejects_bad_chaos_and_handshake_steps() -> None:
    result = CliRunner().invoke(app, ["serve", "--chaos", "mean=0"])
    assert isinstance(result.exception, ConfigError)
    assert "--chaos 'mean=0': mean interval must be above 0" in str(result.exception)
    result = CliRunner().invoke(app, ["serve", "--fault", "on=ready action=drop"])
    assert isinstance(result.exception, ConfigError)
    assert "on must be one of connect, hello, identify, resume" in str(result.exception)


def test_serve_chaos_and_handshake_fault_flags_strike() -> None:
    import asyncio
    import contextlib
    import time

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    args = ["--event-rate", "0", "--seed", "1", "--max-concurrency", "2"]
    args += ["--fault", "on=connect action=close code=4321 times=1"]
    args += ["--chaos", "mean=0.02 window=5 faults=close:4000 triggers=connect"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "birbctl", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    async def first_close(url: str) -> int | None:
        async with asyncio.timeout(5), connect(url) as ws:
            with contextlib.suppress(ConnectionClosed):
                await ws.recv()
            rcvd = ws.protocol.close_rcvd
            return None if rcvd is None else rcvd.code

    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        assert lines[4].startswith("chaos    mean=0.02 window=5 faults=close:4000"), lines
        url = re.search(r"gateway\s+(\S+)", "".join(lines))
        assert url, lines
        assert asyncio.run(first_close(url.group(1))) == 4321  # the step goes first
        time.sleep(0.3)  # a draw every 20 ms on average, waiting 5 s: one is there by now
        assert asyncio.run(first_close(url.group(1))) == 4000
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "(step, connect)" in err and "(chaos, connect)" in err
