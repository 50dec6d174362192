"""`birbctl tail`: every packet of a live connection as it happens, filtered, in one of
three shapes: a readable line, JSON Lines (the shape `decode` prints for captures, so a
recording decodes to what was seen live), or the raw inflated message."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from typing import Any, BinaryIO

from birbctl.capture.emit import dump_line
from birbctl.capture.filters import PacketFilter
from birbctl.capture.message import Message
from birbctl.client.shards import ShardManager
from birbctl.client.websocket import PacketEvent, Websocket
from birbctl.codec.depth import NestingError
from birbctl.options import TailFormat
from birbctl.protocol.events import Action
from birbctl.protocol.wire import ETF_VERSION
from birbctl.render.lines import describe

_ETF_BYTE = bytes([ETF_VERSION])
#: Looked up once: reading a member off its enum class costs ~0.15 us, paid per packet here.
_JSONL, _RAW = TailFormat.JSONL, TailFormat.RAW


class TailView:
    def __init__(
        self,
        fmt: TailFormat | str,
        packet_filter: PacketFilter,
        *,
        count: int | None = None,
        out: BinaryIO | None = None,
        err: Any = None,
    ) -> None:
        self.fmt = TailFormat(fmt)  # a word works too; compared by identity per packet
        self.filter = packet_filter
        self.count = count
        self.printed = 0
        self.out = out or sys.stdout.buffer
        self.err = err or sys.stderr
        self._done = asyncio.Event()
        self._failed: NestingError | None = None  # a packet too deep to show: exit 3
        self._console: Any = None
        if self.fmt is TailFormat.LINE:
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
        """Raise the error that stopped the output, if one did (one line, exit 3)."""
        del manager
        if self._failed is not None:
            raise self._failed

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
        if event.error is not None and self.fmt is not _RAW:
            self._fail(ws, event)
            return
        message = packet_message(event, ws.shard)
        if not self.filter.empty and not self.filter.matches(message):
            return
        try:
            self._write(message, event.raw)
        except NestingError:
            self._fail(ws, event)
            return
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

    def _fail(self, ws: Websocket, event: PacketEvent) -> None:
        """A packet nested too deep to print: stop, as `decode` does on such a frame.
        (`raw` prints the message as it came, so it never gets here.)"""
        shard = ws.shard[0] if ws.shard is not None else 0
        self._failed = NestingError(file=f"shard {shard}, conn {event.conn}")
        self._done.set()

    def _write(self, message: Message, raw: bytes | str) -> None:
        if self.fmt is _JSONL:
            self.out.write(dump_line(message))
            self.out.flush()
        elif self.fmt is _RAW:
            if isinstance(raw, str):
                data = raw.encode()
            elif raw[:1] == _ETF_BYTE:  # ETF: binary, so base64 keeps one message a line
                data = base64.b64encode(raw)
            else:
                data = raw
            self.out.write(data + b"\n")
            self.out.flush()
        else:
            from birbctl.render.packets import packet_line

            self._console.print(packet_line(message))
            self._console.file.flush()


def packet_message(event: PacketEvent, shard: tuple[int, int] | None) -> Message:
    """A live packet as the Message that `decode` would read back from its recording, so
    filters and every output format treat both alike."""
    kind = "text" if isinstance(event.raw, str) else "binary"
    return Message(
        event.payload, 0, None, event.wire_size, event.size, event.ts, event.conn,
        event.dir, kind, shard,
    )  # fmt: skip
