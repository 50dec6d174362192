"""`birbctl proxy --format` and `--record`: birbctl's own client through the proxy to the
emulator. The packets print as `tail` prints them (stdout, JSON Lines valid, filters as
tail's), the proxy's own lines go to stderr, the recording decodes to exactly what the
proxy printed and what the client received, and the token is in none of it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import birbctl_async, running_emulator
from proxy_harness import FAST_HEARTBEATS, TOKEN, no_token, proxy_process
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from birbctl.capture.filters import PacketFilter
from birbctl.options import TailFormat
from birbctl.proxy.record import ProxyRecorder
from birbctl.proxy.server import ProxyConfig, ProxyServer
from birbctl.proxy.views import PacketView

COMBOS = [
    ("json", "zlib-stream"),
    ("etf", "zlib-stream"),
    ("json", "zstd-stream"),
    ("etf", "zstd-stream"),
]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}


def _without_ts(line: bytes) -> dict[str, Any]:
    record = json.loads(line)
    del record["ts"]
    return record


@pytest.mark.parametrize(("encoding", "compress"), COMBOS)
async def test_jsonl_and_record_are_what_the_bot_received(
    tmp_path: Path, encoding: str, compress: str
) -> None:
    env = _env(tmp_path)
    capture = tmp_path / "bot.capture"
    async with (
        running_emulator(**FAST_HEARTBEATS, event_rate=30) as emulator,
        proxy_process(
            tmp_path / "proxy", "--upstream", emulator.rest_url, "--format", "jsonl",
            "--record", str(capture),
        ) as proxy,
    ):  # fmt: skip
        # The bot: birbctl's own client, printing what it received and sent.
        code, bot_out, bot_err = await birbctl_async(
            env, "tail", "--api-url", proxy.rest, "--format", "jsonl", "--intents", "all",
            "--encoding", encoding, "--compress", compress, "--duration", "2",
        )  # fmt: skip
        assert code == 0, bot_err.decode()
        for _ in range(100):  # the proxy's close line comes once both sides closed
            if "closed by" in proxy.err():
                break
            await asyncio.sleep(0.05)
    assert proxy.code == 130, proxy.err()
    out, err = proxy.out(), proxy.err()

    # stdout: packets only, each a JSON line in tail's shape.
    records = [json.loads(line) for line in out.splitlines()]
    assert records and all(list(r) == ["ts", "dir", "shard", "op", "t", "s", "d"] for r in records)
    (ready,) = (r for r in records if r["t"] == "READY")
    assert ready["d"]["resume_gateway_url"].startswith("ws://127.0.0.1:")
    assert "/resume/" in ready["d"]["resume_gateway_url"]
    assert any(r["t"] == "MESSAGE_CREATE" for r in records)
    assert {r["dir"] for r in records} == {"send", "recv"}
    # stderr: the URLs, the REST call and the connection lines, none of them on stdout.
    assert "GET /gateway/bot 200 " in err and b"/gateway/bot" not in out
    assert f"bot #1 connected (new, {encoding}, {compress})" in err
    assert "bot #1 shard 0/1 closed by bot 1000" in err
    assert "rest     http://" in err and b"rest     " not in out

    # The recording decodes to what the proxy printed, byte for byte, but for the shard
    # of what came before the bot's IDENTIFY (HELLO): unknown live, named by the
    # capture's open line.
    assert stat.S_IMODE(capture.stat().st_mode) == 0o600
    code, decoded, decode_err = await birbctl_async(env, "decode", str(capture))
    assert code == 0, decode_err.decode()
    live = out.splitlines()
    assert live[0].startswith(b'{"ts":') and b'"shard":null,"op":10,' in live[0]
    live[0] = live[0].replace(b'"shard":null', b'"shard":[0,1]')
    assert decoded.splitlines() == live

    # ...and to exactly the payloads the bot received and sent, each way in order
    # (times are the proxy's and the bot's own; between the two ways, frames in flight
    # cross, so each side may see a send before a receive the other saw after it).
    # Frames the proxy passed on as the bot was closing may follow what it printed.
    bot = [_without_ts(line) for line in bot_out.splitlines()]
    recorded = [_without_ts(line) for line in decoded.splitlines()]
    bot_recv = [r for r in bot if r["dir"] == "recv"]
    recorded_recv = [r for r in recorded if r["dir"] == "recv"]
    assert len(bot_recv) > 10 and recorded_recv[: len(bot_recv)] == bot_recv
    assert len(recorded_recv) - len(bot_recv) <= 5
    assert [r for r in recorded if r["dir"] == "send"] == [r for r in bot if r["dir"] == "send"]

    capture_bytes = capture.read_bytes()
    assert b'"kind":"close"' in capture_bytes and b'"code":1000' in capture_bytes
    no_token(out, err, capture_bytes, decoded, bot_out, bot_err)
    no_token(out, err, capture_bytes, decoded, find=lambda text: TOKEN in text)


async def test_filters_and_line_format(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runs = {
        "event": ("--format", "jsonl", "-e", "MESSAGE_CREATE"),
        "send": ("--format", "jsonl", "--dir", "send", "--no-heartbeats"),
        "line": ("--format", "line"),
    }
    async with (
        running_emulator(**FAST_HEARTBEATS, event_rate=30) as emulator,
        proxy_process(tmp_path / "event", "--upstream", emulator.rest_url, *runs["event"])
        as event,
        proxy_process(tmp_path / "send", "--upstream", emulator.rest_url, *runs["send"])
        as send,
        proxy_process(tmp_path / "line", "--upstream", emulator.rest_url, *runs["line"])
        as line,
    ):  # fmt: skip
        bot = ("connect", "--json", "--duration", "1.5", "--intents", "all", "--api-url")
        results = await asyncio.gather(
            *(birbctl_async(env, *bot, proxy.rest) for proxy in (event, send, line))
        )
        for code, _, stderr in results:
            assert code == 0, stderr.decode()
    events = [json.loads(x) for x in event.out().splitlines()]
    assert events and {r["t"] for r in events} == {"MESSAGE_CREATE"}
    sends = [json.loads(x) for x in send.out().splitlines()]
    assert [r["op"] for r in sends] == [2]  # IDENTIFY only: no heartbeats asked
    assert sends[0]["d"]["token"] == "[REDACTED]" and sends[0]["dir"] == "send"
    lines = line.out().decode().splitlines()
    assert lines and all(x.startswith("#1 ") for x in lines)
    assert any("READY" in x for x in lines) and any("HELLO" in x for x in lines)
    for proxy in (event, send, line):
        assert proxy.code == 130, proxy.err()
        assert "GET /gateway/bot 200 " in proxy.err()
        no_token(proxy.out(), proxy.err())


async def test_filters_need_format_and_a_bad_op_is_a_usage_error(tmp_path: Path) -> None:
    env = _env(tmp_path)
    code, _, err = await birbctl_async(env, "proxy", "-e", "READY", "--duration", "0")
    assert code == 2 and err.decode().startswith("birbctl: error: --event, --op")
    code, _, err = await birbctl_async(env, "proxy", "-f", "jsonl", "--op", "NOPE")
    assert code == 2 and b"--op 'NOPE'" in err
    target = tmp_path / "no" / "such" / "dir" / "x.capture"
    code, _, err = await birbctl_async(env, "proxy", "--record", str(target))
    assert code == 1 and err.decode().startswith("birbctl: error: cannot create capture")
    assert err.count(b"\n") == 1


# --- in-process: the server's watchers ---------------------------------------------------


async def _bot(url: str, frames: list[str], *, until: str = "") -> None:
    """A bare bot: reads HELLO, sends `frames`, then reads until a message holds
    `until` (or for half a second, or until the connection ends) and closes."""
    async with connect(url, compression=None) as ws:
        async with asyncio.timeout(5):
            await ws.recv()
            for frame in frames:
                await ws.send(frame)
        try:
            async with asyncio.timeout(0.5 if not until else 5):
                for _ in range(500):
                    message = await ws.recv()
                    if until and until in str(message):
                        break
        except (ConnectionClosed, TimeoutError):
            pass


def _identify(shard: list[int]) -> str:
    d = {"token": TOKEN, "intents": 513, "properties": {"os": "l", "browser": "t",
         "device": "t"}, "shard": shard}  # fmt: skip
    return orjson.dumps({"op": 2, "d": d}).decode()


async def test_a_withheld_frame_is_a_marker_and_a_second_setting_is_not_recorded(
    tmp_path: Path,
) -> None:
    capture = tmp_path / "x.capture"
    failures: list[str] = []
    recorder = ProxyRecorder(capture, on_failure=failures.append)
    out, notes = io.BytesIO(), []
    view = PacketView(TailFormat.JSONL, PacketFilter(), out=out, note=notes.append)
    async with (
        running_emulator(heartbeat_interval_ms=41250, event_rate=0) as emulator,
        ProxyServer(
            ProxyConfig(upstream=emulator.rest_url), on_failure=failures.append,
            watchers=[recorder, view],
        ) as proxy,
    ):  # fmt: skip
        base = proxy.gateway_url + "/?v=10&encoding="
        # A bot frame that does not decode and holds the token: never shown or recorded.
        await _bot(base + "json&compress=zlib-stream", ['{"op":2,"d":{"token":"' + TOKEN])
        # Another bot, ETF: the capture holds JSON connections only.
        await _bot(base + "etf&compress=zlib-stream", [])
    recorder.close()
    text = capture.read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    assert lines[0]["encoding"] == "json" and lines[0]["compress"] == "zlib-stream"
    assert {x.get("conn") for x in lines[1:]} == {1}
    (marker,) = (x for x in lines if x.get("dir") == "send" and x.get("kind") != "close")
    assert marker["data"] == "" and "could hold a token" in marker["redacted"]
    assert lines[-1]["kind"] == "close" and lines[-1]["dir"] == "recv"  # upstream closed
    assert failures == [
        f"bot #2 (etf, zlib-stream) is not recorded: {capture} holds json, zlib-stream "
        "connections (a capture has one encoding and compression)"
    ]
    assert any(
        n.startswith("bot #1: the bot sent a frame that does not decode (frame 1") for n in notes
    )
    no_token(text, out.getvalue(), *notes, *failures)


async def test_a_resumed_connection_is_recorded_with_its_shard(tmp_path: Path) -> None:
    capture = tmp_path / "r.capture"
    recorder = ProxyRecorder(capture, on_failure=pytest.fail)
    query = "?v=10&encoding=json"
    async with (
        running_emulator(heartbeat_interval_ms=41250, event_rate=0) as emulator,
        ProxyServer(ProxyConfig(upstream=emulator.rest_url), watchers=[recorder]) as proxy,
    ):
        async with connect(proxy.gateway_url + "/" + query, compression=None) as ws:
            async with asyncio.timeout(5):
                await ws.recv()
                await ws.send(_identify([0, 1]))
                for _ in range(50):
                    ready = orjson.loads(await ws.recv())
                    if ready["t"] == "READY":
                        break
            await ws.close(code=4000)
        resume = {"token": TOKEN, "session_id": ready["d"]["session_id"], "seq": ready["s"]}
        await _bot(
            ready["d"]["resume_gateway_url"] + query,
            [orjson.dumps({"op": 6, "d": resume}).decode()],
            until="RESUMED",
        )
    recorder.close()
    text = capture.read_text()
    opens = [x for x in map(json.loads, text.splitlines()[1:]) if x["kind"] == "open"]
    assert [(x["conn"], x["shard"]) for x in opens] == [(1, [0, 1]), (2, [0, 1])]
    no_token(text)


async def test_record_without_format_keeps_todays_lines(tmp_path: Path) -> None:
    env = _env(tmp_path)
    capture = tmp_path / "only.capture"
    async with (
        running_emulator(**FAST_HEARTBEATS, event_rate=30) as emulator,
        proxy_process(tmp_path / "p", "--upstream", emulator.rest_url, "--record", str(capture))
        as proxy,
    ):  # fmt: skip
        code, _, bot_err = await birbctl_async(
            env, "connect", "--json", "--duration", "1", "--api-url", proxy.rest
        )
        assert code == 0, bot_err.decode()
        for _ in range(100):
            if b"closed by" in proxy.out():
                break
            await asyncio.sleep(0.05)
    assert proxy.code == 130 and proxy.err() == ""
    out = proxy.out().decode()
    assert out.startswith("gateway  ws://127.0.0.1:")
    assert "GET /gateway/bot 200 " in out and "bot #1 connected (new, json, zlib-stream)" in out
    code, decoded, err = await birbctl_async(env, "decode", "-e", "READY", str(capture))
    assert code == 0, err.decode()
    assert json.loads(decoded)["shard"] == [0, 1]
    no_token(out, capture.read_bytes())


async def test_the_reader_leaving_stops_the_proxy_quietly(tmp_path: Path) -> None:
    """`birbctl proxy -f raw | head -1`: the proxy ends with 0 once head has gone."""
    import shlex
    import sys

    env = _env(tmp_path)
    err_file = tmp_path / "proxy.err"
    async with running_emulator(**FAST_HEARTBEATS, event_rate=30) as emulator:
        command = (
            f"set -o pipefail; {shlex.quote(sys.executable)} -m birbctl proxy -f raw "
            f"--upstream {shlex.quote(emulator.rest_url)} 2>{shlex.quote(str(err_file))} "
            "| head -1"
        )
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", command, stdout=asyncio.subprocess.PIPE, env=env
        )
        try:
            async with asyncio.timeout(30):
                rest = ""
                while not rest:
                    await asyncio.sleep(0.05)
                    text = err_file.read_text() if err_file.exists() else ""
                    rest = next((x.split()[1] for x in text.splitlines() if x[:5] == "rest "), "")
                bot = asyncio.create_task(
                    birbctl_async(env, "connect", "--duration", "3", "--api-url", rest)
                )
                out, _ = await proc.communicate()
                await bot
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err_file.read_text()
    assert out.count(b"\n") == 1 and b'"op":10' in out  # HELLO, as the gateway sent it
    assert "Traceback" not in err_file.read_text()


async def test_what_does_not_decode_is_one_line_each_way_and_raw_prints_the_rest() -> None:
    from proxy_harness import HELLO, running_upstream

    out, notes = io.BytesIO(), []
    view = PacketView(TailFormat.RAW, PacketFilter(), out=out, note=notes.append)
    async with (
        running_upstream() as upstream,
        ProxyServer(ProxyConfig(upstream=upstream.api_url), watchers=[view]) as proxy,
    ):
        # The fake upstream echoes the bot's frame: undecodable both ways.
        await _bot(proxy.gateway_url + "/?v=10&encoding=json", ["not json"], until="not")
        for _ in range(100):
            if len(notes) == 2:
                break
            await asyncio.sleep(0.02)
    sent, received = notes
    assert sent == (
        "bot #1: the bot sent a frame that does not decode (frame 1:byte 0); "
        "not shown: it could hold a token"
    )
    assert received.startswith("bot #1: upstream sent a message that does not decode (frame 2:")
    assert received.endswith("; delivered as it came")
    assert out.getvalue() == HELLO.encode() + b"\n"  # raw: the message as it came
