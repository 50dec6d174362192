"""The control socket carries the snapshots' one JSON form: what a process's monitor
took is what `birbctl status` reads back, field for field; an answer with a field
missing or of the wrong type is refused by name, not shown as "-"."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from birbctl.client.control import ControlServer, manager_handler, pings, statuses
from birbctl.client.snapshot import (
    PingSnapshot,
    ProcessPings,
    ProcessSnapshot,
    ProcessUnanswered,
    ShardSnapshot,
)

SHARD = ShardSnapshot(
    shard=(0, 1),
    status="ready",
    session_id="sess",
    seq=9,
    ping=1.5,
    ping_avg=None,
    last_ack_age=0.25,
    uptime=12.0,
    connections=1,
    resumes=0,
    reidentifies=0,
    events=9,
    events_per_s=0.75,
    guilds_ready=1,
    guilds_expected=1,
    url="ws://127.0.0.1:1/?v=10&encoding=json",
    encoding="json",
    compress=None,
)
PINGS = PingSnapshot((0, 1), 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1, (1.5,))


class Manager:
    def snapshots(self) -> list[ShardSnapshot]:
        return [SHARD]

    def ping_snapshots(self) -> list[PingSnapshot]:
        return [PINGS]


@asynccontextmanager
async def serving(handler: Any) -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bctl", dir="/tmp") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o700)
        async with ControlServer(handler, command="connect", directory=directory) as server:
            yield server.directory


async def test_status_and_ping_read_back_what_the_monitor_took() -> None:
    async with serving(manager_handler(Manager())) as directory:
        [status] = await statuses(None, directory)
        [ping] = await pings(os.getpid(), directory)
    assert isinstance(status, ProcessSnapshot) and isinstance(ping, ProcessPings)
    assert status.shards == (SHARD,) and ping.shards == (PINGS,)
    assert (status.pid, status.command) == (os.getpid(), "connect")


async def test_an_answer_with_a_mistyped_field_is_refused_by_name() -> None:
    def handler(request: dict[str, Any]) -> dict[str, Any]:
        del request
        wrong = {**SHARD.to_json(), "seq": "9"}
        return {"shards": [SHARD.to_json(), wrong]}

    async with serving(handler) as directory:
        [answer] = await statuses(None, directory)
    assert answer == ProcessUnanswered(
        os.getpid(),
        f"process {os.getpid()} sent a bad answer: shards[1].seq: expected a whole number "
        "or null, got a string",
    )


async def test_an_answer_with_a_missing_field_is_refused_by_name() -> None:
    def handler(request: dict[str, Any]) -> dict[str, Any]:
        del request
        short = PINGS.to_json()
        del short["p95"]
        return {"shards": [short]}

    async with serving(handler) as directory:
        [answer] = await pings(None, directory)
    assert isinstance(answer, ProcessUnanswered)
    assert answer.error.endswith("sent a bad answer: shards[0].p95 is missing")
