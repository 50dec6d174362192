"""Captures say who closed each connection: our own close (close(code), reconnect, the
zombie close, terminate) is "send" with the code we sent (None: no close frame), the
server's close or a lost connection is "recv" with the server's code. And each open line
names its shard, so a capture of several shards tells their lines apart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_client_lifecycle import TOKEN, Recorder, emulator

from birbctl.capture.sources import iter_messages
from birbctl.client.recording import record_shards
from birbctl.client.shards import ShardManager
from birbctl.emulator.faults import Fault
from birbctl.emulator.server import EmulatorServer


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()[1:]]


def closes(path: Path) -> list[tuple[str, int | None]]:
    return [(e["dir"], e["code"]) for e in events(path) if e["kind"] == "close"]


async def recorded(
    server: EmulatorServer, path: Path, shards: int = 1, **options: Any
) -> tuple[ShardManager, Recorder, asyncio.Task[None], Any]:
    manager = ShardManager(
        TOKEN, intents=513, gateway_url=server.gateway_url, shard_ids=range(shards),
        shard_count=shards, max_concurrency=shards, **options,
    )  # fmt: skip
    rec = Recorder()
    for ws in manager.shards.values():
        ws.add_listener(rec)
    opts = SimpleNamespace(encoding="json", compress="zlib-stream")
    writer = record_shards(str(path), manager, server.gateway_url, opts)
    return manager, rec, asyncio.create_task(manager.run()), writer


async def stop(manager: ShardManager, task: asyncio.Task[None], writer: Any) -> None:
    manager.close(1000, "done")
    async with asyncio.timeout(10):
        await task
    writer.close()


@pytest.mark.parametrize("how", ["close", "reconnect", "terminate", "zombie", "server"])
async def test_close_direction(tmp_path: Path, how: str) -> None:
    path = tmp_path / "c.capture"
    async with emulator() as server:
        manager, rec, task, writer = await recorded(server, path)
        ws = manager.shards[0]
        await rec.until(lambda: len(rec.seqs) >= 5)
        if how == "close":
            ws.close(4000, "bye")  # closes for good, keeping the session
            async with asyncio.timeout(10):
                await task
            writer.close()
            assert closes(path) == [("send", 4000)]
            return
        if how == "reconnect":
            ws.reconnect(code=4000)
        elif how == "terminate":
            ws.terminate()
        elif how == "zombie":
            server.inject(Fault("zombie"))  # no more ACKs: the client closes as a zombie
        else:
            server.inject(Fault("close", code=4000))
        await rec.until(lambda: "RESUMED" in rec.types, timeout=15)
        await stop(manager, task, writer)
    first, last = closes(path)[0], closes(path)[-1]
    assert last == ("send", 1000)  # our final close, with our code
    if how == "server":
        assert first == ("recv", 4000)
    elif how == "terminate":
        assert first == ("send", None)  # dropped, no close frame
    else:
        assert first[0] == "send" and first[1] is not None and first[1] != 1000


async def test_open_lines_name_their_shard(tmp_path: Path) -> None:
    path = tmp_path / "s.capture"
    async with emulator(shards=2) as server:
        manager, rec, task, writer = await recorded(server, path, shards=2)
        await rec.until(lambda: len(rec.seqs) >= 20, timeout=20)
        await stop(manager, task, writer)
    header = json.loads(path.read_bytes().split(b"\n", 1)[0])
    assert header["shard"] is None  # several shards: the header cannot say
    opens = {e["conn"]: e["shard"] for e in events(path) if e["kind"] == "open"}
    assert sorted(opens.values()) == [[0, 2], [1, 2]]
    shards = {m.shard for m in iter_messages(str(path))}
    assert shards == {(0, 2), (1, 2)}
    for message in iter_messages(str(path)):
        assert message.shard == tuple(opens[message.conn])  # type: ignore[index]
