"""The Websocket driver against the project's own emulator on 127.0.0.1: the whole
lifecycle, and each fault handled as DESIGN section 3 says, with every dispatch `s`
arriving exactly once, in order, across resumes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import running_emulator

from birbctl.client.websocket import Websocket
from birbctl.emulator.faults import Fault
from birbctl.emulator.server import EmulatorServer
from birbctl.errors import EXIT_FATAL_CLOSE, GatewayClosed
from birbctl.protocol.events import Action, DispatchReceived, StatusChanged
from birbctl.protocol.status import GatewayStatus

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"
S = GatewayStatus


def emulator(**overrides: Any) -> contextlib.AbstractAsyncContextManager[EmulatorServer]:
    """The emulator these tests run against: lively traffic, fast heartbeats."""
    options: dict[str, Any] = {"event_rate": 40, "seed": 3, "heartbeat_interval_ms": 400}
    return running_emulator(**{**options, **overrides})


@dataclass
class Recorder:
    statuses: list[GatewayStatus] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, ws: Websocket, action: Action) -> None:
        if isinstance(action, StatusChanged):
            self.statuses.append(action.new)
        elif isinstance(action, DispatchReceived):
            self.types.append(action.t)
            if action.s is not None:
                self.seqs.append(action.s)
        self.changed.set()

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self.changed.clear()
                await self.changed.wait()

    def assert_every_seq_once_in_order(self) -> None:
        assert self.seqs == list(range(1, len(self.seqs) + 1)), self.seqs


def shard(server: EmulatorServer, **options: Any) -> tuple[Websocket, Recorder]:
    ws = Websocket(TOKEN, intents=513, gateway_url=server.gateway_url, **options)
    recorder = Recorder()
    ws.add_listener(recorder)
    return ws, recorder


async def finish(ws: Websocket, task: asyncio.Task[None]) -> None:
    ws.close()
    async with asyncio.timeout(10):
        await task
    assert ws.status is S.DISCONNECTED


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("json", "zlib-stream"),
        ("json", "zstd-stream"),
        ("json", None),
        ("etf", "zlib-stream"),
        ("etf", "zstd-stream"),
    ],
)
async def test_lifecycle_reaches_ready_and_streams_events(
    encoding: str, compress: str | None
) -> None:
    async with emulator() as server:
        ws, rec = shard(server, encoding=encoding, compress=compress)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: len(rec.seqs) >= 40 and ws.ping is not None)
        assert rec.statuses[:4] == [S.CONNECTING, S.IDENTIFYING, S.WAITING_FOR_GUILDS, S.READY]
        assert rec.types[0] == "READY" and "GUILD_CREATE" in rec.types
        assert ws.session.session_id and ws.session.resume_gateway_url
        assert 0 <= ws.ping < 1000
        await finish(ws, task)
        rec.assert_every_seq_once_in_order()


async def test_op7_resumes_without_losing_an_event() -> None:
    async with emulator() as server:
        ws, rec = shard(server)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: len(rec.seqs) >= 20)
        server.inject(Fault("reconnect"))
        await rec.until(lambda: "RESUMED" in rec.types)
        seen = len(rec.seqs)
        await rec.until(lambda: len(rec.seqs) >= seen + 20)
        assert S.RESUMING in rec.statuses and ws.session.counters.resumes == 1
        assert ws.connection_number == 2
        await finish(ws, task)
        rec.assert_every_seq_once_in_order()


@pytest.mark.parametrize("how", ["terminate", "drop", "zombie", "close_4000"])
async def test_lost_connections_resume(how: str) -> None:
    async with emulator() as server:
        ws, rec = shard(server)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: len(rec.seqs) >= 20)
        if how == "terminate":
            ws.terminate()  # we drop the socket, as a dead network would
        elif how == "drop":
            server.inject(Fault("drop"))  # the gateway drops it, no close frame (1006)
        elif how == "zombie":
            server.inject(Fault("zombie"))  # the gateway stops ACKing heartbeats
        else:
            server.inject(Fault("close", code=4000))
        await rec.until(lambda: "RESUMED" in rec.types)
        seen = len(rec.seqs)
        await rec.until(lambda: len(rec.seqs) >= seen + 10)
        assert ws.session.session_id is not None and ws.session.counters.resumes >= 1
        await finish(ws, task)
        rec.assert_every_seq_once_in_order()


async def test_invalid_session_not_resumable_identifies_again() -> None:
    async with emulator() as server:
        ws, rec = shard(server, backoff_base=0.05)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: S.READY in rec.statuses)
        first_session = ws.session.session_id
        server.inject(Fault("invalid_session", resumable=False))
        # The client waits 1-5 s (Discord's rule) and identifies on a new connection.
        await rec.until(lambda: rec.types.count("READY") == 2, timeout=15)
        assert ws.session.session_id != first_session
        assert ws.session.counters.reidentifies == 1
        await finish(ws, task)


@pytest.mark.parametrize("code", [4004, 4010, 4011, 4012, 4013, 4014])
async def test_fatal_close_codes_end_with_exit_4(code: int) -> None:
    async with emulator() as server:
        ws, rec = shard(server)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: S.READY in rec.statuses)
        server.inject(Fault("close", code=code))
        with pytest.raises(GatewayClosed) as info:
            async with asyncio.timeout(10):
                await task
        assert info.value.code == code and info.value.exit_code == EXIT_FATAL_CLOSE
        assert str(code) in str(info.value)
        assert ws.status is S.DISCONNECTED and ws.connection_number == 1


async def test_bad_token_is_4004() -> None:
    async with emulator(tokens=frozenset({"Bot x.y.z"})) as server:
        ws, _ = shard(server)
        with pytest.raises(GatewayClosed) as info:
            async with asyncio.timeout(10):
                await ws.run()
        assert info.value.code == 4004
        assert TOKEN not in str(info.value)


async def test_invalid_session_resumable_resumes() -> None:
    async with emulator() as server:
        ws, rec = shard(server)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: len(rec.seqs) >= 10)
        session_id = ws.session.session_id
        server.inject(Fault("invalid_session", resumable=True))
        await rec.until(lambda: "RESUMED" in rec.types)
        assert ws.session.session_id == session_id and ws.session.counters.reidentifies == 0
        await finish(ws, task)
        rec.assert_every_seq_once_in_order()


async def test_op1_gets_a_heartbeat_at_once() -> None:
    async with emulator(heartbeat_interval_ms=30_000) as server:
        ws, rec = shard(server)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: S.READY in rec.statuses)
        before = ws.session.counters.heartbeats_sent
        server.inject(Fault("request_heartbeat"))
        # The scheduled beat is up to 30 s away: only the op 1 answer can arrive this soon.
        await rec.until(lambda: ws.session.counters.heartbeats_acked > 0, timeout=3)
        assert ws.session.counters.heartbeats_sent == before + 1
        await finish(ws, task)


async def test_corrupt_frame_closes_and_resumes() -> None:
    async with emulator() as server:
        ws, rec = shard(server)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: len(rec.seqs) >= 10)
        server.inject(Fault("corrupt"))  # the inflate context is broken: a new connection
        await rec.until(lambda: "RESUMED" in rec.types)
        assert ws.connection_number == 2
        seen = len(rec.seqs)
        await rec.until(lambda: len(rec.seqs) >= seen + 10)
        await finish(ws, task)
        rec.assert_every_seq_once_in_order()


async def test_stall_is_survived_without_losing_events() -> None:
    async with emulator(heartbeat_interval_ms=2000) as server:
        ws, rec = shard(server)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: len(rec.seqs) >= 10)
        server.inject(Fault("stall", seconds=1.0))  # shorter than a heartbeat interval
        seen = len(rec.seqs)
        await rec.until(lambda: len(rec.seqs) >= seen + 40)
        assert ws.connection_number == 1  # nothing to recover from: the stream just paused
        await finish(ws, task)
        rec.assert_every_seq_once_in_order()


async def test_long_stall_is_a_zombie_and_resumes() -> None:
    async with emulator(heartbeat_interval_ms=400) as server:
        ws, rec = shard(server)
        task = asyncio.create_task(ws.run())
        await rec.until(lambda: len(rec.seqs) >= 10)
        server.inject(Fault("stall", seconds=3.0))  # ACKs are held back too: a zombie
        await rec.until(lambda: "RESUMED" in rec.types)
        seen = len(rec.seqs)
        await rec.until(lambda: len(rec.seqs) >= seen + 10)
        await finish(ws, task)
        rec.assert_every_seq_once_in_order()
