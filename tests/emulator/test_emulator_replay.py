"""`birbctl serve --replay`: a recorded session's dispatches, renumbered per session, at
the recorded pace (or --speed), through the emulator's own READY/RESUME machinery."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import birbctl, birbctl_async, one_line_error, zlib_stream, zstd_stream
from emulator_harness import BOT_ID, TOKEN, GatewayClient, gateway, running
from websockets.sync.client import connect as sync_connect

from birbctl.capture.writer import CaptureWriter
from birbctl.codec.etf import encode_etf
from birbctl.emulator.faults import parse_fault_flag
from birbctl.emulator.recording import load_recording
from birbctl.emulator.server import EmulatorServer

SNOW = 1142733646600614000
USER_ID = str(SNOW + 4)
GUILDS = [str(SNOW + 10), str(SNOW + 11)]
NEW_GUILD = str(SNOW + 12)
T0 = 1_700_000_000.0
RECORDED_USER = {
    "id": USER_ID,
    "username": "recorded-bot",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}


def dispatch(t: str, d: Any, s: int) -> dict[str, Any]:
    return {"op": 0, "t": t, "s": s, "d": d}


def ready_d(session_id: str = "recorded-session") -> dict[str, Any]:
    return {
        "v": 10,
        "user": RECORDED_USER,
        "guilds": [{"id": g, "unavailable": True} for g in GUILDS],
        "session_id": session_id,
        "resume_gateway_url": "wss://gateway-us-east1-b.discord.gg",
        "application": {"id": USER_ID, "flags": 565248},
        "shard": [0, 1],
        "_trace": ['["gateway-prd-us-east1-b-1",{"micros":1}]'],
    }


def guild_create(gid: str) -> dict[str, Any]:
    return {"id": gid, "name": f"guild {gid[-2:]}", "roles": [], "members": [], "large": False}


def message(i: int) -> dict[str, Any]:
    return {
        "id": str(SNOW + 100 + i),
        "channel_id": str(SNOW + 50),
        "guild_id": GUILDS[i % 2],
        "author": {"id": str(SNOW + 60), "username": "someone", "discriminator": "0"},
        "content": f"message {i}",
        "mentions": [],
        "nonce": None,
        "pinned": False,
    }


def write_capture(
    path: Path,
    *,
    span: float = 0.3,
    count: int = 10,
    encoding: str = "json",
    compress: str | None = "zlib-stream",
) -> list[tuple[str, Any]]:
    """A session over three connections: IDENTIFY, READY and its GUILD_CREATEs, messages,
    a recorded op 7; a RESUME (RESUMED, more messages), an op 9; a re-IDENTIFY (READY and
    repeated GUILD_CREATEs, a new guild, a last message). Messages are `span` seconds
    apart end to end. Returns the (t, d) a replay must send after READY, in order."""

    def wire(payloads: list[dict[str, Any]]) -> list[bytes | str]:
        raw = [
            encode_etf(p, style="server") if encoding == "etf" else orjson.dumps(p)
            for p in payloads
        ]
        if compress == "zlib-stream":
            return list(zlib_stream(raw))
        if compress == "zstd-stream":
            return list(zstd_stream(raw))
        return [r if encoding == "etf" else r.decode() for r in raw]

    hello = {"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": 41250}}
    ack = {"op": 11, "s": None, "t": None, "d": None}
    gap = span / (count - 1)
    first = count // 2
    conns: list[list[tuple[float, dict[str, Any]]]] = [
        [
            (T0 - 0.1, hello),
            (T0, dispatch("READY", ready_d(), 1)),
            (T0 + 0.01, dispatch("GUILD_CREATE", guild_create(GUILDS[0]), 2)),
            (T0 + 0.02, dispatch("GUILD_CREATE", guild_create(GUILDS[1]), 3)),
            (T0 + 0.03, ack),
            *[(T0 + 0.1 + i * gap, dispatch("MESSAGE_CREATE", message(i), 4 + i)) for i in
              range(first)],
            (T0 + 0.1 + (first - 0.5) * gap, {"op": 7, "s": None, "t": None, "d": None}),
        ],
        [
            (T0 + 0.1 + (first - 0.4) * gap, hello),
            (T0 + 0.1 + (first - 0.3) * gap, dispatch("RESUMED", {}, 4 + first)),
            *[(T0 + 0.1 + i * gap, dispatch("MESSAGE_CREATE", message(i), 5 + i)) for i in
              range(first, count - 1)],
            (T0 + 0.1 + (count - 1.5) * gap, {"op": 9, "s": None, "t": None, "d": False}),
        ],
        [
            (T0 + 0.1 + (count - 1.4) * gap, hello),
            (T0 + 0.1 + (count - 1.3) * gap, dispatch("READY", ready_d("second"), 1)),
            (T0 + 0.1 + (count - 1.2) * gap, dispatch("GUILD_CREATE", guild_create(GUILDS[0]), 2)),
            (T0 + 0.1 + (count - 1.2) * gap, dispatch("GUILD_CREATE", guild_create(GUILDS[1]), 3)),
            (T0 + 0.1 + (count - 1.1) * gap, dispatch("GUILD_CREATE", guild_create(NEW_GUILD), 4)),
            (T0 + 0.1 + span, dispatch("MESSAGE_CREATE", message(count - 1), 5)),
        ],
    ]  # fmt: skip
    identify = {"op": 2, "d": {"token": TOKEN, "intents": 513, "properties": {"os": "linux"}}}
    with CaptureWriter(
        path,
        url=f"wss://gateway.discord.gg/?v=10&encoding={encoding}",
        encoding=encoding,
        compress=compress,
    ) as writer:
        for number, events in enumerate(conns, 1):
            writer.opened(number, t=events[0][0] - 0.01)
            for (t, payload), frame in zip(events, wire([p for _, p in events]), strict=True):
                writer.frame(number, "recv", frame, t=t)
                if payload["op"] == 10:
                    sent = orjson.dumps(identify).decode() if encoding == "json" else None
                    writer.frame(number, "send", sent or encode_etf(identify), t=t + 0.001)
            writer.closed(number, 4000 if number < 3 else 1000, t=events[-1][0] + 0.01)
    expected: list[tuple[str, Any]] = [("GUILD_CREATE", guild_create(g)) for g in GUILDS]
    expected += [("MESSAGE_CREATE", message(i)) for i in range(count - 1)]
    expected += [("GUILD_CREATE", guild_create(NEW_GUILD)), ("MESSAGE_CREATE", message(count - 1))]
    return expected


async def collect(client: GatewayClient, count: int, timeout: float = 5.0) -> list[Any]:
    """The next `count` dispatches (other ops are skipped)."""
    got: list[Any] = []
    async with asyncio.timeout(timeout):
        for _ in range(count * 4 + 20):
            payload = await client.recv(timeout)
            if payload["op"] == 0:
                got.append(payload)
                if len(got) == count:
                    return got
    raise AssertionError(f"only {len(got)} of {count} dispatches")


def replaying(capture: Path, **overrides: Any) -> Any:
    options: dict[str, Any] = {"replay": str(capture), "replay_speed": 0.0}
    options.update(overrides)
    return running(**options)


def watch_notes(server: EmulatorServer) -> list[str]:
    notes: list[str] = []
    server.ctx.on_event = notes.append
    return notes


# --- loading ----------------------------------------------------------------------------


def test_load_keeps_the_session_dispatches_and_their_times(tmp_path: Path) -> None:
    capture = tmp_path / "s.capture"
    expected = write_capture(capture, span=2.0)
    recording = load_recording(str(capture))
    assert recording.ready == ready_d()
    assert [(e.t, orjson.loads(e.data)) for e in recording.events] == expected
    # Later READY and RESUMED, and the re-identify's repeated GUILD_CREATEs, are left out.
    assert recording.skipped == 4
    assert [e.initial for e in recording.events[:3]] == [True, True, False]
    offsets = [e.offset for e in recording.events]
    assert offsets == sorted(offsets)
    assert offsets[0] == pytest.approx(0.01)
    assert recording.span == pytest.approx(2.1)


def test_a_recording_without_ready_keeps_every_dispatch(tmp_path: Path) -> None:
    lines = tmp_path / "mid.jsonl"
    payloads = [dispatch("MESSAGE_CREATE", message(i), 40 + i) for i in range(3)]
    lines.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in payloads))
    recording = load_recording(str(lines))
    assert recording.ready is None
    assert [orjson.loads(e.data) for e in recording.events] == [message(i) for i in range(3)]
    assert recording.span == 0.0


# --- serving ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "encoding", "compress"),
    [
        ("json", "json", None),
        ("json", "etf", "zstd-stream"),  # ETF client, JSON recording
        ("etf", "json", "zlib-stream"),  # JSON client, ETF recording
    ],
)
async def test_replay_renumbers_the_recorded_session(
    tmp_path: Path, recorded: str, encoding: str, compress: str | None
) -> None:
    capture = tmp_path / "s.capture"
    expected = write_capture(capture, encoding=recorded, compress="zlib-stream")
    async with replaying(capture) as server:
        notes = watch_notes(server)
        async with gateway(server, encoding=encoding, compress=compress) as client:
            ready = await client.identify()
            d = ready["d"]
            assert ready["s"] == 1
            assert d["user"] == RECORDED_USER
            assert [g["id"] for g in d["guilds"]] == GUILDS
            assert d["application"] == {"id": USER_ID, "flags": 565248}
            assert d["session_id"] != "recorded-session"
            assert d["resume_gateway_url"] == server.gateway_url
            got = await collect(client, len(expected))
            assert [(p["t"], p["d"]) for p in got] == expected
            assert [p["s"] for p in got] == list(range(2, len(expected) + 2))
            # The end: the connection stays open and heartbeats are ACKed.
            await client.send({"op": 1, "d": got[-1]["s"]})
            assert (await client.recv())["op"] == 11
        assert any("replay finished" in n for n in notes), notes


async def test_every_session_gets_the_whole_recording(tmp_path: Path) -> None:
    capture = tmp_path / "s.capture"
    expected = write_capture(capture)
    async with (
        replaying(capture) as server,
        gateway(server) as one,
        gateway(server, encoding="etf") as two,
    ):
        await one.identify(shard=[0, 2])
        ready = await two.identify(shard=[1, 2])
        assert ready["d"]["shard"] == [1, 2]  # what it identified as
        for client in (one, two):
            got = await collect(client, len(expected))
            assert [(p["t"], p["d"]) for p in got] == expected


async def test_speed_divides_the_recorded_gaps(tmp_path: Path) -> None:
    capture = tmp_path / "s.capture"
    expected = write_capture(capture, span=2.0, compress=None)
    async with replaying(capture, replay_speed=10.0) as server, gateway(server) as client:
        await client.identify()
        start = time.monotonic()
        got = await collect(client, len(expected))
        elapsed = time.monotonic() - start
    assert [p["t"] for p in got] == [t for t, _ in expected]
    assert 0.1 < elapsed < 1.0, elapsed  # 2.1 s recorded / 10


async def test_resume_mid_replay_loses_nothing(tmp_path: Path) -> None:
    capture = tmp_path / "s.capture"
    expected = write_capture(capture, span=0.5, count=12)
    reconnect = parse_fault_flag("after_events=5 action=reconnect")
    async with replaying(capture, replay_speed=1.0, steps=(reconnect,)) as server:
        got: list[Any] = []
        async with gateway(server, compress="zlib-stream") as client:
            ready = await client.identify()
            seq = ready["s"]
            _op7, before = await client.recv_until(lambda p: p["op"] == 7)
            got += [p for p in before if p["op"] == 0]
            seq = got[-1]["s"]
            await client.ws.close(4000)
        async with gateway(server, compress="zlib-stream") as client:
            await client.send(
                {"op": 6, "d": {"token": TOKEN, "session_id": ready["d"]["session_id"], "seq": seq}}
            )
            rest = await collect(client, len(expected) - len(got) + 1)  # and RESUMED
    resumed = [p for p in rest if p["t"] == "RESUMED"]
    assert len(resumed) == 1
    got += [p for p in rest if p["t"] != "RESUMED"]
    assert [(p["t"], p["d"]) for p in got] == expected
    numbers = sorted(p["s"] for p in [*got, *resumed])
    assert numbers == list(range(2, len(expected) + 3))


async def test_loop_starts_over_without_the_guild_burst(tmp_path: Path) -> None:
    capture = tmp_path / "s.capture"
    expected = write_capture(capture, count=4, span=0.2)
    # Paced, not --speed 0: a flood would fill the client's queue and slow its close.
    async with replaying(capture, replay_loop=True, replay_speed=1.0) as server:
        notes = watch_notes(server)
        async with gateway(server) as client:
            await client.identify()
            got = await collect(client, 2 * len(expected) - 2 + 1)
            await client.ws.close(1000)  # ends the session, and so the loop
    body = expected[2:]
    assert [(p["t"], p["d"]) for p in got] == expected + body + body[:1]
    assert [p["s"] for p in got] == list(range(2, len(got) + 2))
    assert any("--loop" in n for n in notes)


async def test_without_a_recorded_ready_the_synthetic_world_is_used(tmp_path: Path) -> None:
    lines = tmp_path / "mid.jsonl"
    payloads = [dispatch("MESSAGE_CREATE", message(i), 40 + i) for i in range(3)]
    lines.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in payloads))
    async with replaying(lines, guilds=2) as server, gateway(server) as client:
        ready = await client.identify()
        assert ready["d"]["user"]["id"] == BOT_ID
        got = await collect(client, 5)
    assert [p["t"] for p in got] == ["GUILD_CREATE"] * 2 + ["MESSAGE_CREATE"] * 3
    assert [p["d"] for p in got[2:]] == [message(i) for i in range(3)]


async def test_rest_answers_with_the_recorded_bot(tmp_path: Path) -> None:
    from birbctl.emulator.rest import handle_rest

    capture = tmp_path / "s.capture"
    write_capture(capture)
    async with replaying(capture) as server:
        answer = handle_rest(server.ctx, "GET", "/api/v10/users/@me", f"Bot {TOKEN}", 0.0)
    assert answer.status == 200
    assert answer.body["id"] == USER_ID
    assert answer.body["username"] == "recorded-bot"


async def test_a_session_recorded_by_tail_replays_as_it_was_seen(tmp_path: Path) -> None:
    capture = tmp_path / "tail.capture"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    async with running(event_rate=60, guilds=2) as server:
        code, out, err = await birbctl_async(
            env, "tail", "--gateway-url", server.gateway_url, "--encoding", "etf",
            "--compress", "zlib-stream", "--format", "jsonl", "--intents", "all",
            "--record", str(capture), "--duration", "1.5",
        )  # fmt: skip
    assert code == 0, err
    live = [json.loads(line) for line in out.splitlines()]
    seen = [(r["t"], r["d"]) for r in live if r["op"] == 0 and r["t"] != "READY"]
    assert len(seen) >= 20
    async with replaying(capture) as server, gateway(server, compress="zstd-stream") as client:
        ready = await client.identify()
        assert ready["d"]["user"]["id"] == BOT_ID
        got = await collect(client, len(seen))
    assert [(p["t"], p["d"]) for p in got] == seen


# --- the command line -------------------------------------------------------------------


def test_cli_missing_capture_exits_2(tmp_path: Path) -> None:
    err = one_line_error(birbctl("serve", "--replay", str(tmp_path / "missing.capture")), 2)
    assert "missing.capture" in err


def test_cli_corrupt_capture_exits_3(tmp_path: Path) -> None:
    capture = tmp_path / "bad.capture"
    write_capture(capture)
    lines = capture.read_bytes().splitlines(keepends=True)
    event = json.loads(lines[3])
    event["data"] = "AAAA" + event["data"][4:]  # breaks the inflate context
    lines[3] = json.dumps(event).encode() + b"\n"
    capture.write_bytes(b"".join(lines))
    err = one_line_error(birbctl("serve", "--replay", str(capture)), 3)
    assert "bad.capture" in err


def test_cli_recording_without_dispatches_exits_3(tmp_path: Path) -> None:
    empty = tmp_path / "hello.json"
    empty.write_text('{"op": 10, "d": {"heartbeat_interval": 41250}}')
    err = one_line_error(birbctl("serve", "--replay", str(empty)), 3)
    assert "no received dispatches" in err


def test_cli_speed_needs_replay() -> None:
    one_line_error(birbctl("serve", "--speed", "2"), 2)


def test_cli_serves_a_replay(tmp_path: Path) -> None:
    capture = tmp_path / "s.capture"
    expected = write_capture(capture)
    proc = subprocess.Popen(
        [sys.executable, "-m", "birbctl", "serve", "--replay", str(capture), "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        assert re.search(rf"replay .*{len(expected)} dispatches", lines[4]), lines
        url = re.search(r"gateway\s+(\S+)", lines[0])
        assert url, lines
        with sync_connect(url.group(1), open_timeout=5, close_timeout=2) as ws:
            assert json.loads(ws.recv(timeout=5))["op"] == 10
            ws.send(json.dumps({"op": 2, "d": {"token": TOKEN, "intents": 513, "properties": {}}}))
            got = [json.loads(ws.recv(timeout=5)) for _ in range(len(expected) + 1)]
        assert got[0]["t"] == "READY"
        assert [(p["t"], p["d"]) for p in got[1:]] == expected
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "replay finished" in err
    assert "Traceback" not in err
