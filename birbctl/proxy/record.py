"""`birbctl proxy --record FILE`: a capture (docs/capture-format.md) of every bot
connection, both ways, as the bot saw it.

Received frames are the ones the proxy sent the bot, after its re-compression (so the
capture replays with the bot's own inflate context, READY's resume URL rewritten); sent
frames are the bot's, with the token redacted by the writer, and a bot frame the relay
withheld (it did not decode, so it could hold a token) is the writer's redacted marker,
never its bytes. Each connection gets an `open` line, its frames, and a `close` line
with the code and the side: "send" when the bot closed (or dropped) it, "recv" when
upstream or the proxy did.

One encoding and compression per file. The format's header names one of each for every
connection (the reader inflates and decodes every connection with it), so the first
bot connection sets them, and a later connection that differs is proxied but not
recorded, with one line saying so. A bot uses one setting for all its shards, so this
only splits two different bots behind one proxy; record them with two proxies.

A connection's shard is only known from the bot's IDENTIFY (or the session its RESUME
names), after upstream's HELLO, and the writer takes it on the `open` line only. So a
connection's lines wait in memory until the bot's first frame (at most a few: HELLO),
then go out behind an `open` that names the shard. With several bots connecting at
once, that can put a connection's first lines after another connection's later ones;
each line keeps its own time, and readers follow connections by `conn`.

Until the first bot connection the file is a capture with no connections (header only),
so a bad path fails before the proxy serves, and a run no bot used still decodes.
A write that fails (disk full) stops the recording with one line; the proxy goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from birbctl.capture.writer import CaptureWriteError, CaptureWriter
from birbctl.client.websocket import WireEvent
from birbctl.protocol.wire import Compression, Direction, Encoding
from birbctl.proxy.relay import Frame, GatewayRelay, RelayEvent

#: Lines a connection may hold back waiting for its shard (HELLO is usually the only one).
MAX_HELD = 32

_SEND, _RECV = Direction.SEND, Direction.RECV


class ProxyRecorder:
    """A RelayWatcher (proxy/server.py) writing every bot connection to one capture."""

    def __init__(self, path: str | os.PathLike[str], *, on_failure: Callable[[str], None]) -> None:
        self.path = os.fspath(path)
        self._on_failure = on_failure
        # A valid, empty capture now: the path is checked (created 0600) before serving.
        CaptureWriter(self.path, url=None, encoding=Encoding.JSON, compress=None).close()
        self._writer: CaptureWriter | None = None
        self._setting: tuple[Encoding, Compression] | None = None
        self._connections: dict[int, _Connection] = {}
        #: Why recording stopped (a write failed), or None while it goes on.
        self.failed: str | None = None

    # --- RelayWatcher --------------------------------------------------------------------

    def opened(self, relay: GatewayRelay) -> None:
        if self.failed is not None:
            return
        setting = (relay.encoding, relay.compress)
        if self._setting is None:
            try:
                self._writer = CaptureWriter(
                    self.path, url=relay.url, encoding=relay.encoding, compress=relay.compress
                )
            except CaptureWriteError as exc:
                self._fail(str(exc))
                return
            self._setting = setting
        elif setting != self._setting:
            encoding, compress = self._setting
            self._on_failure(
                f"bot #{relay.conn} ({relay.encoding}, {relay.compress}) is not recorded: "
                f"{self.path} holds {encoding}, {compress} connections (a capture has one "
                "encoding and compression)"
            )
            return
        connection = _Connection(self, relay)
        self._connections[relay.conn] = connection
        relay.add_listener(connection.event)

    def ended(self, relay: GatewayRelay, side: str, code: int | None, reason: str) -> None:
        connection = self._connections.pop(relay.conn, None)
        if connection is not None:
            connection.closed(_SEND if side == "bot" else _RECV, code, reason)

    # --- the file --------------------------------------------------------------------------

    def close(self) -> None:
        """End the recording (after the server stopped: every connection has ended)."""
        for connection in list(self._connections.values()):
            connection.release()
        self._connections.clear()
        if self._writer is not None:
            self._writer.close()

    def write(self, action: Callable[[CaptureWriter], None]) -> None:
        """Run one write; a failure stops the recording with one line, never raises."""
        writer = self._writer
        if writer is None or self.failed is not None:
            return
        try:
            action(writer)
        except CaptureWriteError as exc:
            self._fail(str(exc))

    def _fail(self, why: str) -> None:
        if self.failed is None:
            self.failed = why
            self._on_failure(why)
            if self._writer is not None:
                self._writer.close()


_Held = tuple[Direction, Frame | None, str, float]  # dir, data (None: withheld), kind, t


class _Connection:
    """One bot connection's lines: held until its shard is known, then written."""

    def __init__(self, recorder: ProxyRecorder, relay: GatewayRelay) -> None:
        self.recorder = recorder
        self.relay = relay
        self.conn = relay.conn
        self.opened_at: float | None = None
        self.held: list[_Held] | None = []  # None once the open line is written

    def event(self, event: RelayEvent) -> None:
        if type(event) is not WireEvent:
            return
        kind = event.kind
        if kind == "open":
            self.opened_at = event.ts
            return
        if kind == "close":
            return  # ended() writes it, with the side the bot saw
        item: _Held = (event.dir, event.data, kind, event.ts)
        held = self.held
        if held is not None:
            held.append(item)
            if event.dir is _SEND or len(held) >= MAX_HELD:
                self.release()  # the bot's first frame: IDENTIFY or RESUME named the shard
            return
        self.recorder.write(lambda writer: _frame(writer, self.conn, item))

    def release(self) -> None:
        """Write the open line (with the shard, if known by now) and what was held."""
        held = self.held
        if held is None:
            return
        self.held = None
        opened_at = self.opened_at if self.opened_at is not None else (held[0][3] if held else None)
        shard = self.relay.shard

        def write(writer: CaptureWriter) -> None:
            writer.opened(self.conn, shard=shard, t=opened_at)
            for item in held:
                _frame(writer, self.conn, item)

        self.recorder.write(write)

    def closed(self, direction: Direction, code: int | None, reason: str) -> None:
        self.release()
        self.recorder.write(
            lambda writer: writer.closed(self.conn, code, reason, direction=direction)
        )


def _frame(writer: CaptureWriter, conn: int, item: _Held) -> None:
    direction, data, kind, t = item
    if data is None:  # withheld by the relay: the writer's marker, never the bytes
        data = "" if kind == "text" else b""
    writer.frame(conn, direction, data, t=t)
