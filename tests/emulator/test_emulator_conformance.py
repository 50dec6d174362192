"""Real third-party clients accept the emulator as Discord: discord.py and hikari reach
READY, receive the synthetic events, resume after op 7 without losing one, and identify
again after op 9 (false), over zlib-stream and zstd-stream. Offline: everything is on
127.0.0.1; each client runs in a subprocess (conformance_runner.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from emulator_harness import running

from birbctl.emulator.faults import parse_fault_flag
from birbctl.emulator.server import EmulatorServer
from birbctl.emulator.sessions import SessionRecord

RUNNER = Path(__file__).with_name("conformance_runner.py")
COMPRESSIONS = ("zlib-stream", "zstd-stream")
CLIENTS = ("discordpy", "hikari")


def require(client: str) -> None:
    pytest.importorskip("discord" if client == "discordpy" else "hikari")
    pytest.importorskip("zstandard")


async def run_client(
    server: EmulatorServer, client: str, compress: str, messages: int, readies: int, resumes: int
) -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(RUNNER), client, server.gateway_url, compress,
        str(messages), str(readies), str(resumes),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(40):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = out.decode().strip().splitlines()
    assert lines, f"{client} printed nothing; stderr:\n{err.decode()[-3000:]}"
    result = json.loads(lines[-1])
    assert "error" not in result, (result, err.decode()[-3000:])
    return result


def record_sessions(server: EmulatorServer) -> list[SessionRecord]:
    """Keep every session the emulator creates, to compare with what a client saw."""
    sessions: list[SessionRecord] = []
    records = server.ctx.records
    original = records.add

    def add(session: SessionRecord, now: float) -> None:
        sessions.append(session)
        original(session, now)

    records.add = add  # type: ignore[method-assign]
    return sessions


def message_ids(session: SessionRecord) -> list[str]:
    return [str(e.d["id"]) for _, e in session.buffer if e.t == "MESSAGE_CREATE"]


def assert_nothing_lost(received: list[str], session: SessionRecord) -> None:
    sent = message_ids(session)
    got = [m for m in received if m in set(sent)]
    assert got, "no messages of this session arrived"
    assert got == sent[: len(got)], "a message was lost, duplicated or reordered"


async def run_on_own_server(
    client: str, compress: str, messages: int, readies: int, resumes: int, **config: Any
) -> tuple[Any, list[SessionRecord]]:
    """One client on its own emulator, so the sessions recorded are that client's."""
    async with running(**config) as server:
        sessions = record_sessions(server)
        result = await run_client(server, client, compress, messages, readies, resumes)
    return result, sessions


async def run_both(
    client: str, messages: int, readies: int, resumes: int, **config: Any
) -> list[tuple[Any, list[SessionRecord]]]:
    return list(
        await asyncio.gather(
            *(
                run_on_own_server(client, c, messages, readies, resumes, **config)
                for c in COMPRESSIONS
            )
        )
    )


@pytest.mark.parametrize("client", CLIENTS)
async def test_client_reaches_ready_and_receives_events(client: str) -> None:
    require(client)
    runs = await run_both(client, 10, 1, 0, guilds=3, event_rate=50)
    assert {r["compress"] for r, _ in runs} == set(COMPRESSIONS)
    for result, sessions in runs:
        assert result["readies"] == 1 and result["guilds"] == 3
        assert len(result["messages"]) >= 10
        assert len(sessions) == 1
        assert_nothing_lost(result["messages"], sessions[0])


@pytest.mark.parametrize("client", CLIENTS)
async def test_client_resumes_after_op7_without_losing_an_event(client: str) -> None:
    require(client)
    steps = (parse_fault_flag("after_events=5 action=reconnect"),)
    runs = await run_both(client, 25, 1, 1, guilds=2, event_rate=50, steps=steps)
    for result, sessions in runs:
        assert result["resumes"] >= 1 and result["readies"] == 1
        assert len(sessions) == 1  # resumed, never identified again
        assert sessions[0].fired == {0}
        assert_nothing_lost(result["messages"], sessions[0])


@pytest.mark.parametrize("client", CLIENTS)
async def test_client_identifies_again_after_op9_false(client: str) -> None:
    require(client)
    steps = (parse_fault_flag("after_events=5 action=invalid_session resumable=false"),)
    runs = await run_both(client, 5, 2, 0, guilds=2, event_rate=50, steps=steps)
    for result, sessions in runs:
        assert result["readies"] >= 2
        assert len(sessions) >= 2  # the invalidated session, then a new one
        assert sessions[0].fired == {0}
