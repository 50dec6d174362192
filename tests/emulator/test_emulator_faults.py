"""Faults land in a live client: from the admin endpoint, and from scenario steps."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from emulator_harness import gateway, running

from birbctl.emulator.faults import FaultStep, parse_fault, parse_fault_flag
from birbctl.emulator.scenario import load_scenario, parse_scenario
from birbctl.emulator.server import EmulatorServer
from birbctl.errors import ConfigError
from birbctl.transport.inflate import make_inflater

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "faults.toml"


def admin(server: EmulatorServer, route: str, method: str = "POST") -> tuple[int, Any]:
    request = urllib.request.Request(f"{server.admin_url}/{route}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def poke(server: EmulatorServer, query: str) -> Any:
    status, body = await asyncio.to_thread(admin, server, f"faults?{query}")
    assert status == 200, body
    assert body["applied"], body
    return body


async def test_admin_lists_sessions_and_rejects_bad_faults() -> None:
    async with running(guilds=1) as server, gateway(server) as client:
        ready = await client.identify()
        status, body = await asyncio.to_thread(admin, server, "sessions", "GET")
        assert status == 200
        assert body["sessions"][0]["session"] == ready["d"]["session_id"]
        status, body = await asyncio.to_thread(admin, server, "faults?action=explode")
        assert status == 400 and "action must be one of" in body["message"]
        status, _ = await asyncio.to_thread(admin, server, "faults?action=drop", "GET")
        assert status == 405


@pytest.mark.parametrize(
    ("query", "op", "d"),
    [
        ("action=reconnect", 7, None),
        ("action=invalid_session&resumable=true", 9, True),
        ("action=invalid_session", 9, False),
        ("action=request_heartbeat", 1, None),
    ],
)
async def test_admin_ops(query: str, op: int, d: Any) -> None:
    async with running(guilds=1) as server, gateway(server) as client:
        ready = await client.identify()
        await poke(server, f"{query}&session={ready['d']['session_id'][:8]}")
        payload, _ = await client.recv_until(lambda p: p["op"] == op)
        assert payload["d"] == d


async def test_admin_close_and_drop() -> None:
    async with running(guilds=1) as server:
        async with gateway(server) as client:
            await client.identify()
            await poke(server, "action=close&code=4321&reason=testing")
            assert await client.closed_with() == 4321
        async with gateway(server) as client:
            await client.identify()
            await poke(server, "action=drop")
            assert await client.closed_with() is None  # no close frame


async def test_zombie_and_ack_delay() -> None:
    async with running() as server, gateway(server) as client:
        await poke(server, "action=ack_delay&ms=300")
        started = time.monotonic()
        await client.send({"op": 1, "d": None})
        assert (await client.recv())["op"] == 11
        assert time.monotonic() - started >= 0.28
        await poke(server, "action=zombie")
        await client.send({"op": 1, "d": None})
        with pytest.raises(TimeoutError):
            await client.recv(timeout=0.3)


async def test_stall_holds_everything_then_releases_it() -> None:
    async with running() as server, gateway(server) as client:
        await poke(server, "action=stall&seconds=0.3")
        started = time.monotonic()
        await client.send({"op": 1, "d": None})
        assert (await client.recv())["op"] == 11
        assert time.monotonic() - started >= 0.28


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("json", None), ("etf", None), ("json", "zlib-stream"), ("etf", "zstd-stream")],
)
async def test_corrupt_frame_breaks_the_client_decoder(encoding: str, compress: str | None) -> None:
    from birbctl.codec.message import decode_message
    from birbctl.errors import DecodeError

    async with running() as server, gateway(server, encoding=encoding, compress=compress) as client:
        await poke(server, "action=corrupt")
        frame = await asyncio.wait_for(client.ws.recv(), 2)
        data = frame.encode() if isinstance(frame, str) else frame
        with pytest.raises(DecodeError):
            message = client.inflater.feed(data)
            assert message is not None
            decode_message(message)


async def test_scenario_steps_fire_per_session() -> None:
    steps = (
        parse_fault_flag("after_events=5 action=request_heartbeat"),
        parse_fault_flag("at=0.2 action=reconnect"),
    )
    async with running(guilds=1, event_rate=100, steps=steps) as server, gateway(server) as client:
        await client.identify()
        _, before = await client.recv_until(lambda p: p["op"] == 1)
        synthetic = [p for p in before if p["op"] == 0 and p["t"] not in ("READY", "GUILD_CREATE")]
        assert len(synthetic) == 5
        await client.recv_until(lambda p: p["op"] == 7, timeout=2)


def test_example_scenario_parses_and_shows_every_action() -> None:
    from birbctl.emulator.faults import ACTIONS

    steps = load_scenario(EXAMPLE)
    assert {s.fault.action for s in steps} == set(ACTIONS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]]\naction = 'reconnect'\n", "exactly one of"),
        ("[[step]]\nat = 1\nafter_events = 2\naction = 'drop'\n", "exactly one of"),
        ("[[step]]\nat = 1\naction = 'nope'\n", "action must be one of"),
        ("[[step]]\nat = 1\naction = 'stall'\n", "stall needs seconds"),
        ("[[step]]\nat = 1\naction = 'drop'\ncode = 4000\n", "drop takes no code"),
        ("[[step]]\nat = 1\naction = 'close'\ncode = 2000\n", "cannot be sent"),
        ("speed = 3\n", "unknown top-level"),
        ("[[step]\n", "not valid TOML"),
    ],
)
def test_scenario_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_scenario(text)


def test_fault_parsing() -> None:
    assert parse_fault({"action": "close", "code": "4000"}).code == 4000
    step = parse_fault_flag("at=2.5 action=invalid_session resumable=true")
    assert step == FaultStep(parse_fault({"action": "invalid_session", "resumable": True}), at=2.5)
    with pytest.raises(ConfigError):
        parse_fault_flag("action")


def test_inflater_fixture_is_birbctls() -> None:
    assert make_inflater("zlib-stream").compress == "zlib-stream"


@pytest.mark.parametrize("code", [1004, 1005, 1006, 999, 2000, 5000])
def test_close_faults_refuse_codes_no_close_frame_may_carry(code: int) -> None:
    """1005 and 1006 only describe a close without a code; websockets refuses to send
    them (the connection handler used to die with a traceback on such a fault)."""
    with pytest.raises(ConfigError, match=r"cannot be sent \(use 1000-1003, 1007-1014 or"):
        parse_fault({"action": "close", "code": code})


def test_close_faults_take_every_code_a_server_may_send() -> None:
    for code in (1000, 1001, 1011, 3000, 4000, 4014, 4999):
        assert parse_fault({"action": "close", "code": code}).code == code
