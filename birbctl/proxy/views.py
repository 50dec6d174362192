"""`birbctl proxy --format line|jsonl|raw`: every bot connection's packets as `tail`
prints a connection's, with tail's filters.

The shapes are tail's own (render/tail.py TailView writes them: render/packets.py's
line, capture/emit.py's JSON Lines, the raw message), so `proxy --format jsonl` prints
what `birbctl decode` prints for the proxy's --record capture. Each packet names its
bot connection: jsonl by `shard` once the bot's IDENTIFY (or the session it resumed)
said it, null before; a line starts with `#N`, the connection's number in the proxy's
`bot #N` lines, and shows the shard as tail does when there are several.

What does not decode is not a packet: a message from upstream that does not decode
(delivered to the bot all the same) and a bot frame that does not decode (never shown:
it could hold a token) are one line each on stderr, saying where, and the stream goes
on. A listener never raises into the relay: that would end the bot's connection.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from rich.text import Text

from birbctl.capture.filters import PacketFilter
from birbctl.capture.message import Message
from birbctl.client.websocket import PacketEvent
from birbctl.codec.depth import NestingError
from birbctl.options import TailFormat
from birbctl.protocol.wire import Direction
from birbctl.proxy.relay import GatewayRelay, RelayEvent
from birbctl.render.packets import packet_line
from birbctl.render.tail import TailView, packet_message

_RECV = Direction.RECV
_LINE, _RAW = TailFormat.LINE, TailFormat.RAW


def _nothing() -> None:
    pass


class PacketView(TailView):
    """A RelayWatcher (proxy/server.py) printing packets to stdout as they pass.

    A TailView whose packets come from relays, not from birbctl's own websockets:
    tail's writer, tail's filter, tail's formats, one connection label more."""

    def __init__(
        self,
        fmt: TailFormat | str,
        packet_filter: PacketFilter,
        *,
        out: BinaryIO | None = None,
        err: Any = None,
        note: Callable[[str], None] | None = None,
        on_gone: Callable[[], None] = _nothing,
    ) -> None:
        """`note` takes the lines about what does not decode (default: stderr);
        `on_gone` is called once when stdout's reader has left (`| head`)."""
        super().__init__(fmt, packet_filter, out=out, err=err)
        self._note = note or self._to_err
        self._on_gone = on_gone

    # --- RelayWatcher --------------------------------------------------------------------

    def opened(self, relay: GatewayRelay) -> None:
        def listen(event: RelayEvent) -> None:
            if type(event) is PacketEvent:
                self._relayed(relay, event)

        relay.add_listener(listen)

    def ended(self, relay: GatewayRelay, side: str, code: int | None, reason: str) -> None:
        pass  # the proxy's own `bot #N ... closed by` line says it

    # --- the work --------------------------------------------------------------------------

    def _relayed(self, relay: GatewayRelay, event: PacketEvent) -> None:
        if self._done.is_set():
            return
        if event.error is not None:
            self._undecodable(relay, event)
            return
        message = packet_message(event, relay.shard)
        if not self.filter.empty and not self.filter.matches(message):
            return
        try:
            self._write(message, event.raw)
        except NestingError:
            self._note(f"bot #{event.conn}: a packet nested deeper than the limit; not shown")
        except BrokenPipeError:
            # `birbctl proxy -f jsonl | head`: the reader left; the proxy stops quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            self._done.set()
            self._on_gone()
        else:
            self.printed += 1

    def _undecodable(self, relay: GatewayRelay, event: PacketEvent) -> None:
        error = event.error
        assert error is not None
        where = error.where() or "?"
        if event.dir is _RECV:
            what = "delivered as it came" if event.raw else "not delivered (the stream broke)"
            self._note(f"bot #{event.conn}: upstream sent a message that does not decode "
                       f"({where}: {error.message}); {what}")  # fmt: skip
            return
        # Only where: the error's text could quote the frame, and the frame a token.
        self._note(f"bot #{event.conn}: the bot sent a frame that does not decode ({where}); "
                   "not shown: it could hold a token")  # fmt: skip

    def _write(self, message: Message, raw: bytes | str) -> None:
        if self.fmt is _LINE:
            body = packet_line(message)
            line = Text.assemble(
                (f"#{message.conn} ", "cyan"), body, no_wrap=body.no_wrap, overflow=body.overflow
            )
            self._console.print(line)
            self._console.file.flush()
        else:
            super()._write(message, raw)

    def _to_err(self, text: str) -> None:
        self.err.write(f"birbctl: {text}\n")
        self.err.flush()
