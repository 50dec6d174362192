"""`birbctl report` as a user runs it: bad captures end in one located line (exit 3) and
leave no page behind, a missing plotly names the extra (exit 1), the page never holds the
token, and birbctl does not import plotly to start."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import birbctl, birbctl_async, one_line_error, running_emulator, zlib_stream
from report_pages import capture_lines, embedded_model, expected_side, outside_references

from birbctl.capture.writer import CaptureWriter
from birbctl.emulator.faults import Fault, FaultStep
from birbctl.protocol.wire import Direction

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.rEpOrTsEcReTtOkEnVaLuE_xyz0123456789"
MISSING = "birbctl: error: birbctl report needs plotly: pip install 'birbctl[report]'\n"

SERVER = [
    {"op": 10, "d": {"heartbeat_interval": 1000}, "s": None, "t": None},
    {"op": 0, "t": "READY", "s": 1, "d": {"session_id": "abc", "user": {"id": "1"}}},
    {"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": {"content": "hi"}},
    {"op": 11, "d": None, "s": None, "t": None},
]


def small_capture(path: Path) -> Path:
    """One connection: HELLO, IDENTIFY, READY, an event, a beat and its ACK, a 4000 close."""
    frames = zlib_stream([orjson.dumps(p) for p in SERVER])
    with CaptureWriter(path, url="wss://gateway.example/?v=10", encoding="json",
                       compress="zlib-stream", shard=(0, 1)) as writer:  # fmt: skip
        writer.opened(1, shard=(0, 1), t=1000.0)
        writer.frame(1, "recv", frames[0], t=1000.1)
        writer.frame(1, "send", '{"op":2,"d":{"token":"x"}}', t=1000.2)
        writer.frame(1, "recv", frames[1], t=1000.3)
        writer.frame(1, "recv", frames[2], t=1000.4)
        writer.frame(1, "send", '{"op":1,"d":2}', t=1001.0)
        writer.frame(1, "recv", frames[3], t=1001.05)
        writer.closed(1, 4000, "bye", direction=Direction.SEND, t=1002.0)
    return path


def test_a_small_capture_makes_a_page(tmp_path: Path) -> None:
    page = tmp_path / "out.html"
    result = birbctl("report", str(small_capture(tmp_path / "s.capture")), "-o", str(page))
    assert result.returncode == 0, result.stderr
    model = embedded_model(page.read_text())
    [conn] = model["connections"]
    assert (conn["code"], conn["side"], conn["began"], conn["events"]) == (4000, "client",
                                                                        "identify", 2)  # fmt: skip
    assert model["pings"][0]["ms"] == pytest.approx(50.0)
    assert list(tmp_path.iterdir()) == [tmp_path / "s.capture", page]  # no temporary left


def test_plotly_missing_names_the_extra(tmp_path: Path) -> None:
    capture = small_capture(tmp_path / "s.capture")
    page = tmp_path / "out.html"
    hide = "import sys; sys.modules['plotly'] = None; from birbctl.cli.app import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hide, "report", str(capture), "-o", str(page)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.decode() == MISSING
    assert not page.exists()


def test_help_and_start_up_do_not_need_plotly() -> None:
    probe = (
        "import sys; sys.modules['plotly'] = None; import birbctl.cli.app; "
        "print(sorted(m for m, v in sys.modules.items()"
        " if v is not None and m.startswith(('plotly', 'birbctl.report'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == b"[]"
    hide = "import sys; sys.modules['plotly'] = None; from birbctl.cli.app import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hide, "report", "--help"], capture_output=True, timeout=60
    )
    assert result.returncode == 0 and b"birbctl[report]" in result.stdout


def corrupt(capture: Path, number: int, line: bytes) -> int:
    """Replace line `number` (from 1); the byte offset where it starts."""
    lines = capture.read_bytes().split(b"\n")
    offset = sum(len(x) + 1 for x in lines[: number - 1])
    lines[number - 1] = line
    capture.write_bytes(b"\n".join(lines))
    return offset


@pytest.mark.parametrize(
    ("number", "line", "why"),
    [
        (4, b'{"t":1000.3,"conn":1,"dir":"recv","kind":"binary","data":"@@@@"}', "base64"),
        (5, b'{"t":1000.4,"conn":1,', "invalid JSON"),
        (5, b'{"t":1000.3,"conn":1,"dir":"recv","kind":"binary","data":"//////8AAP//"}',
         "corrupt zlib-stream"),
        (8, b'{"t":1e300,"conn":1,"dir":"send","kind":"text","data":"{\\"op\\":1,\\"d\\":3}"}',
         "out of range"),
        (1, b"hello", "bad capture header"),
        (1, b'{"format":"other"}', "not a birbctl capture"),
    ],
)  # fmt: skip
def test_a_bad_capture_is_one_located_line_and_no_page(
    tmp_path: Path, number: int, line: bytes, why: str
) -> None:
    capture = small_capture(tmp_path / "bad.capture")
    offset = corrupt(capture, number, line)
    page = tmp_path / "out.html"
    page.write_text("the previous page")
    err = one_line_error(birbctl("report", str(capture), "-o", str(page)), 3)
    where = re.match(rf"birbctl: error: {re.escape(str(capture))}:frame {number}:byte (\d+): ", err)
    assert where is not None, err
    assert offset <= int(where.group(1)) <= offset + len(line)  # the line, or a byte in it
    assert why in err
    assert page.read_text() == "the previous page"  # untouched: written whole or not at all
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.capture", "out.html"]


def test_usage_errors(tmp_path: Path) -> None:
    err = one_line_error(birbctl("report", str(tmp_path / "none.capture"), "-o", "x.html"), 2)
    assert "none.capture" in err
    capture = small_capture(tmp_path / "s.capture")
    err = one_line_error(birbctl("report", str(capture)), 2)  # no -o
    assert "--output" in err
    missing_dir = tmp_path / "no" / "such" / "page.html"
    err = one_line_error(birbctl("report", str(capture), "-o", str(missing_dir)), 1)
    assert "cannot write" in err and str(missing_dir) in err
    err = one_line_error(birbctl("report", str(capture), "-o", str(tmp_path)), 1)
    assert "is a directory" in err


def test_hostile_names_stay_text(tmp_path: Path) -> None:
    """Event names and close reasons are the capture's words: escaped, never markup."""
    evil = "</script><script src=https://evil.example/x.js></script><img src=//evil.example>"
    frames = zlib_stream(
        [orjson.dumps(SERVER[0]), orjson.dumps({"op": 0, "t": evil, "s": 1, "d": {}})]
    )
    capture = tmp_path / "evil.capture"
    with CaptureWriter(capture, url="wss://gateway.example/?v=10", encoding="json",
                       compress="zlib-stream") as writer:  # fmt: skip
        writer.opened(1, t=1.0)
        writer.frame(1, "recv", frames[0], t=1.1)
        writer.frame(1, "recv", frames[1], t=1.2)
        writer.closed(1, 4000, evil, t=2.0)
    page = tmp_path / "evil.html"
    assert birbctl("report", str(capture), "-o", str(page)).returncode == 0
    text = page.read_text()
    assert outside_references(text) == []
    assert "evil.example" in text  # as text, escaped
    model = embedded_model(text)
    assert model["connections"][0]["reason"] == evil
    assert model["events_by_type"] == {evil: 1}


# --- a session recorded with a real token -------------------------------------------------

STEPS = (
    FaultStep(Fault("reconnect"), at=0.4),  # op 7: birbctl closes 4000 and resumes
    FaultStep(Fault("ack_delay", ms=120), at=0.5),
    FaultStep(Fault("close", code=4000), at=1.0),  # the server closes: resume
    FaultStep(Fault("ack_delay", ms=0), at=1.2),
    FaultStep(Fault("drop"), at=1.5),  # the network loses it: resume
    FaultStep(Fault("invalid_session", resumable=True), at=1.8),  # op 9: resume
    # Session timed out: identify again, but not 5 s from the first IDENTIFY (one bucket,
    # max_concurrency 1), so the capture ends with the shard still down.
    FaultStep(Fault("close", code=4009), at=2.2),
)


async def test_a_token_session_every_close_and_no_token(tmp_path: Path) -> None:
    capture, page = tmp_path / "run.capture", tmp_path / "run.html"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    async with running_emulator(heartbeat_interval_ms=150, event_rate=30, steps=STEPS) as server:
        code, _out, err = await birbctl_async(
            env, "connect", "--gateway-url", server.gateway_url, "--json",
            "--record", str(capture), "--duration", "3.6",
        )  # fmt: skip
    assert code == 0, err
    result = await asyncio.to_thread(birbctl, "report", str(capture), "-o", str(page))
    assert result.returncode == 0, result.stderr
    out, err = result.stdout, result.stderr
    text = page.read_text()
    secret = TOKEN.split(".")[-1]
    for where in (text, out.decode(), err.decode(), capture.read_text()):
        assert TOKEN not in where and secret not in where
    opens, closes, _first = capture_lines(capture)
    model = embedded_model(text)
    conns = {c["conn"]: c for c in model["connections"]}
    assert set(conns) == set(opens)
    for number, close in closes.items():
        assert (conns[number]["code"], conns[number]["side"]) == (
            close["code"],
            expected_side(close),
        )
    sides = {c["side"] for c in model["connections"]}
    assert {"client", "server", "dropped"} <= sides, json.dumps(model["connections"])
    kinds = {m["kind"] for m in model["marks"]}
    assert {"reconnect", "invalid_session", "resumed", "ready"} <= kinds
    summary = model["summary"]
    assert summary["resumes"] >= 4 and summary["resumed"] >= 4
    assert summary["ping_max"] >= 100  # the delayed ACKs
    *recovered, last = model["recoveries"]
    assert all(r["via"] == "RESUMED" and r["seconds"] < 3 for r in recovered)
    assert (last["code"], last["side"], last["up"]) == (4009, "server", None)
    assert summary["unrecovered"] == 1


async def test_a_proxy_recording_makes_a_page(tmp_path: Path) -> None:
    """`birbctl proxy --record` writes the same format, with each close as the bot saw it."""
    capture, page = tmp_path / "proxy.capture", tmp_path / "proxy.html"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    steps = (FaultStep(Fault("reconnect"), at=0.4), FaultStep(Fault("drop"), at=0.9))
    async with running_emulator(heartbeat_interval_ms=200, event_rate=20, steps=steps) as server:
        proxy = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "birbctl", "proxy", "--upstream", server.rest_url,
            "--record", str(capture),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        assert proxy.stdout is not None
        try:
            async with asyncio.timeout(30):
                first = (await proxy.stdout.readline()).decode()
            found = re.search(r"gateway\s+(\S+)", first)
            assert found is not None, first
            code, _out, err = await birbctl_async(
                env, "connect", "--gateway-url", found.group(1), "--duration", "1.8", "--json"
            )
            assert code == 0, err
        finally:
            proxy.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(10):
                    await proxy.wait()
            finally:
                if proxy.returncode is None:
                    proxy.kill()
                    await proxy.wait()
    result = await asyncio.to_thread(birbctl, "report", str(capture), "-o", str(page))
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert TOKEN not in text
    opens, closes, _first = capture_lines(capture)
    model = embedded_model(text)
    conns = {c["conn"]: c for c in model["connections"]}
    assert set(conns) == set(opens) and len(opens) >= 3  # op 7, then the drop
    for number, close in closes.items():
        assert (conns[number]["code"], conns[number]["side"]) == (
            close["code"],
            expected_side(close),
        )
    assert [r["via"] for r in model["recoveries"]] == ["RESUMED", "RESUMED"]


def test_dash_writes_the_page_to_stdout(tmp_path: Path) -> None:
    capture = small_capture(tmp_path / "s.capture")
    result = birbctl("report", str(capture), "-o", "-")
    assert result.returncode == 0, result.stderr
    page = result.stdout.decode()
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert embedded_model(page)["summary"]["connections"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.capture"]
