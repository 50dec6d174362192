"""`birbctl tail`: every packet of a live connection as it happens, filtered, in one of
three shapes: a readable line, JSON Lines (the shape `decode` prints for captures, so a
recording decodes to what was seen live), or the raw inflated message."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from typing import Any, BinaryIO

import orjson

from birbctl.capture.emit import record
from birbctl.capture.filters import PacketFilter
from birbctl.capture.message import Message
from birbctl.client.shards import ShardManager
from birbctl.client.websocket import PacketEvent, Websocket
from birbctl.protocol.events import Action
from birbctl.render.lines import describe

FORMATS = ("line", "jsonl", "raw")


class TailView:
    def __init__(
        self,
        fmt: str,
        packet_filter: PacketFilter,
        *,
        count: int | None = None,
        out: BinaryIO | None = None,
        err: Any = None,
    ) -> None:
        self.fmt = fmt
        self.filter = packet_filter
        self.count = count
        self.printed = 0
        self.out = out or sys.stdout.buffer
        self.err = err or sys.stderr
        self._done = asyncio.Event()
        self._console: Any = None
        if fmt == "line":
            from birbctl.render.console import make_console

            self._console = make_console()

    def attach(self, manager: ShardManager) -> None:
        for ws in manager.shards.values():
            ws.add_packet_listener(self._packet)
            ws.add_listener(self._state)

    async def run(self, manager: ShardManager, stop: asyncio.Event) -> None:
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._done.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
        stop.set()

    def finish(self, manager: ShardManager) -> None:
        del manager

    def _state(self, ws: Websocket, action: Action) -> None:
        """State changes go to stderr, so stdout stays packets only (for jq)."""
        text = describe(action)
        if text is not None and not self._done.is_set():
            shard = ws.shard[0] if ws.shard is not None else 0
            self.err.write(f"birbctl: shard {shard} {text}\n")
            self.err.flush()

    def _packet(self, ws: Websocket, event: PacketEvent) -> None:
        if self._done.is_set():
            return
        message = Message(
            event.payload, 0, None, event.wire_size, event.size, event.ts, event.conn,
            event.dir, "text" if isinstance(event.raw, str) else "binary",
        )  # fmt: skip
        if not self.filter.empty and not self.filter.matches(message):
            return
        try:
            self._write(message, event.raw)
        except BrokenPipeError:
            # `birbctl tail | head`: the reader left; stop quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            self._done.set()
            return
        self.printed += 1
        if self.count is not None and self.printed >= self.count:
            self._done.set()

    def _write(self, message: Message, raw: bytes | str) -> None:
        if self.fmt == "jsonl":
            self.out.write(
                orjson.dumps(
                    record(message), option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
                )
            )
            self.out.flush()
        elif self.fmt == "raw":
            if isinstance(raw, str):
                data = raw.encode()
            elif raw[:1] == b"\x83":  # ETF: binary, so base64 keeps one message a line
                data = base64.b64encode(raw)
            else:
                data = raw
            self.out.write(data + b"\n")
            self.out.flush()
        else:
            from birbctl.render.packets import packet_line

            self._console.print(packet_line(message))
            self._console.file.flush()
