"""Views of a running birbctl for pipes and logs: one plain line per state change, or
JSON Lines (`--json`). No rich here: these must stay cheap and greppable.

The texts and records are the notifications' own (`Notice.line()`, `Notice.record()`),
the same the dashboard's log shows."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, TextIO

import orjson

from birbctl.client.shards import ShardManager
from birbctl.client.websocket import Websocket
from birbctl.protocol.events import Action, Notice


def _shard(ws: Websocket) -> int:
    return ws.shard[0] if ws.shard is not None else 0


class PlainView:
    """`12:00:01 shard 0 ready (was waiting_for_guilds): all guilds arrived`."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def attach(self, manager: ShardManager) -> None:
        for ws in manager.shards.values():
            ws.add_listener(self._listen)

    def _listen(self, ws: Websocket, action: Action) -> None:
        text = describe(action)
        if text is None:
            return
        stamp = time.strftime("%H:%M:%S")
        self.out.write(f"{stamp} shard {_shard(ws)} {text}\n")
        self.out.flush()

    async def run(self, manager: ShardManager, stop: asyncio.Event) -> None:
        await stop.wait()

    def finish(self, manager: ShardManager) -> None:
        stamp = time.strftime("%H:%M:%S")
        for snap in manager.snapshots():
            self.out.write(f"{stamp} shard {snap.shard_id} summary: {snap.summary()}\n")
        self.out.flush()


def describe(action: Action) -> str | None:
    """The line a person wants to see for this action; None for the rest (driver
    actions, dispatches, heartbeats)."""
    return action.line() if isinstance(action, Notice) else None


class JsonView:
    """One JSON object per line: state changes, reconnects, heartbeat ACKs, errors."""

    def __init__(self, out: Any = None) -> None:
        self.out = out or sys.stdout.buffer

    def attach(self, manager: ShardManager) -> None:
        for ws in manager.shards.values():
            ws.add_listener(self._listen)

    def _listen(self, ws: Websocket, action: Action) -> None:
        record = as_record(action)
        if record is None:
            return
        record = {"ts": time.time(), "shard": _shard(ws), **record}
        self.out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        self.out.flush()

    async def run(self, manager: ShardManager, stop: asyncio.Event) -> None:
        await stop.wait()

    def finish(self, manager: ShardManager) -> None:
        for snap in manager.snapshots():
            # "shard" ends up [id, count], the snapshot's own: as before the snapshot
            # was typed.
            record = {"ts": time.time(), "shard": snap.shard_id, "event": "summary"}
            record.update(snap.to_json())
            self.out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        self.out.flush()


def as_record(action: Action) -> dict[str, Any] | None:
    """The JSON Lines object for this action, without ts and shard; None: not shown."""
    return action.record() if isinstance(action, Notice) else None
