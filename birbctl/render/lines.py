"""Views of a running session for pipes and logs: one plain line per state change, or
JSON Lines (`--json`). No rich here: these must stay cheap and greppable."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, TextIO

import orjson

from birbctl.client.shards import ShardManager
from birbctl.client.websocket import Websocket
from birbctl.protocol.events import (
    Action,
    FatalClose,
    HeartbeatAcked,
    ProtocolViolation,
    Reconnecting,
    SessionInvalidated,
    StatusChanged,
)


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
        for snap in manager.snapshots():
            ping = "-" if snap["ping_avg"] is None else f"{snap['ping_avg']:.1f} ms"
            self.out.write(
                f"{time.strftime('%H:%M:%S')} shard {snap['shard'][0]} summary: "
                f"{snap['events']} events, {snap['resumes']} resumes, "
                f"{snap['reidentifies']} re-identifies, average ping {ping}\n"
            )
        self.out.flush()


def describe(action: Action) -> str | None:
    """One line for the actions a person wants to see; None for the rest."""
    if isinstance(action, StatusChanged):
        return f"{action.new.value} (was {action.old.value}): {action.reason}"
    if isinstance(action, Reconnecting):
        mode = "resume" if action.resume else "identify"
        return f"reconnecting in {action.delay:.1f} s to {mode}: {action.why}"
    if isinstance(action, SessionInvalidated):
        return f"session invalidated (resumable: {str(action.resumable).lower()})"
    if isinstance(action, FatalClose):
        return f"fatal close {action.code}: {action.description}"
    if isinstance(action, ProtocolViolation):
        return f"protocol error: {action.message}"
    return None


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
            record = {"ts": time.time(), "shard": snap["shard"][0], "event": "summary", **snap}
            self.out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        self.out.flush()


def as_record(action: Action) -> dict[str, Any] | None:
    if isinstance(action, StatusChanged):
        return {
            "event": "status",
            "old": action.old.value,
            "new": action.new.value,
            "reason": action.reason,
        }
    if isinstance(action, HeartbeatAcked):
        return {"event": "heartbeat_ack", "rtt_ms": action.rtt_ms}
    if isinstance(action, Reconnecting):
        return {
            "event": "reconnecting",
            "delay": action.delay,
            "resume": action.resume,
            "why": action.why,
        }
    if isinstance(action, SessionInvalidated):
        return {"event": "invalid_session", "resumable": action.resumable}
    if isinstance(action, FatalClose):
        return {
            "event": "fatal_close",
            "code": action.code,
            "reason": action.reason,
            "description": action.description,
        }
    if isinstance(action, ProtocolViolation):
        return {"event": "protocol_error", "message": action.message, "closing": action.closing}
    return None
