"""The Websocket class: birb's gateway shard, as an asyncio driver of GatewaySession.

The session decides everything (what to send, when to beat, whether to resume); this
class only performs its actions over the `websockets` package and feeds it what
arrives. One asyncio task runs the session's timers; each connection has a reader task
(frames in) and a writer task (frames out, in order). Events from a connection that is
no longer current are ignored, so a late close report can never be mistaken for the
next connection's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from birbctl import __version__
from birbctl.codec.depth import NestingError
from birbctl.codec.message import encode_message
from birbctl.codec.packets import PacketReader
from birbctl.errors import DecodeError, GatewayClosed
from birbctl.protocol.events import (
    Action,
    CloseConnection,
    DropConnection,
    FatalClose,
    OpenConnection,
    SendPayload,
)
from birbctl.protocol.identify import IdentifyGate
from birbctl.protocol.opcodes import CloseCode, client_close_ends_session
from birbctl.protocol.session import GatewaySession
from birbctl.protocol.status import GatewayStatus
from birbctl.protocol.wire import Compression, Direction, Encoding
from birbctl.tasks import cancel_and_wait

#: RFC 6455's code for a close frame that carried none; the session is told "no code".
NO_STATUS_RECEIVED = 1005

Listener = Callable[["Websocket", Action], None]

#: Looked up once: reading a member off its enum class costs ~0.15 us, paid per frame here.
_SEND, _RECV = Direction.SEND, Direction.RECV


@dataclass(frozen=True, slots=True)
class WireEvent:
    """Something that crossed the wire, as a capture records it (docs/capture-format.md)."""

    conn: int
    dir: Direction
    kind: Literal["open", "close", "text", "binary"]
    data: bytes | str | None = None
    code: int | None = None
    ts: float = 0.0  # wall clock, unix seconds: the same instant for capture and view


@dataclass(frozen=True, slots=True)
class PacketEvent:
    """A whole decoded payload, in or out (sent ones with the token redacted)."""

    conn: int
    dir: Direction
    payload: Any
    wire_size: int
    size: int
    ts: float
    raw: bytes | str  # the inflated message (sent: the redacted payload, re-encoded)
    #: A received message nested too deep to show (payload None): views must say so.
    error: DecodeError | None = None


WireListener = Callable[["Websocket", WireEvent], None]
PacketListener = Callable[["Websocket", PacketEvent], None]

#: Seconds to wait for the TCP + TLS + HTTP upgrade before the attempt counts as failed.
OPEN_TIMEOUT = 20.0
#: Seconds a close handshake may take before the TCP connection is dropped.
CLOSE_TIMEOUT = 5.0
USER_AGENT = f"DiscordBot (https://github.com/birbctl/birbctl, {__version__}) birbctl"


@dataclass(eq=False)
class _Connection:
    number: int
    url: str
    reader: PacketReader
    ws: ClientConnection | None = None
    outbox: asyncio.Queue[bytes | str] = field(default_factory=asyncio.Queue)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    reported: bool = False  # connection_closed/failed already told to the session
    #: Set when we end the connection: (code, reason) of our close frame; code None when
    #: we dropped it without one. The capture records that close as ours ("send").
    ours: tuple[int | None, str] | None = None


class Websocket:
    """One gateway shard. `await ws.run()` connects and returns when the session ends.

    Fatal close codes raise GatewayClosed (exit 4); `close()` ends `run()` normally.
    Listeners see every session action (state changes, dispatches, heartbeats...);
    frame listeners see every frame as it went over the wire (for captures).
    """

    def __init__(
        self,
        token: str,
        *,
        intents: int,
        gateway_url: str,
        shard: tuple[int, int] | None = None,
        encoding: Encoding | str = Encoding.JSON,
        compress: Compression | str | None = Compression.ZLIB_STREAM,
        identify_gate: IdentifyGate | None = None,
        ssl_context: ssl.SSLContext | None = None,
        **session_options: Any,
    ) -> None:
        # Words (and None for no compression) are taken too, as the session takes them.
        self.encoding = Encoding(encoding)
        self.compress = Compression.of(compress)
        self.session = GatewaySession(
            token,
            intents=intents,
            gateway_url=gateway_url,
            shard=shard,
            encoding=self.encoding,
            compress=self.compress,
            encode=lambda payload: encode_message(payload, self.encoding),
            identify_gate=identify_gate,
            **session_options,
        )
        self._ssl = ssl_context
        self._listeners: list[Listener] = []
        self._wire_listeners: list[WireListener] = []
        self._packet_listeners: list[PacketListener] = []
        self._clock: Callable[[], float] = session_options.get("clock", time.monotonic)
        self._conn: _Connection | None = None
        #: Makes each connection's reader (a counting one for `--metrics`:
        #: ShardMonitor.meter_bytes).
        self.make_reader: Callable[[Encoding, Compression], PacketReader] = PacketReader
        self._connections = 0
        self._wake = asyncio.Event()
        self._fatal: FatalClose | None = None
        self._running = False

    # --- birb's Websocket surface ----------------------------------------------------

    @property
    def status(self) -> GatewayStatus:
        return self.session.status

    @property
    def ping(self) -> float | None:
        return self.session.ping

    @property
    def url(self) -> str:
        return self.session.url

    @property
    def shard(self) -> tuple[int, int] | None:
        return self.session.shard

    @property
    def connection_number(self) -> int:
        """How many connections this shard has opened (the capture's `conn`)."""
        return self._connections

    def is_connected(self) -> bool:
        return self.session.is_connected

    def is_connecting(self) -> bool:
        return self.session.is_connecting

    def is_closed(self) -> bool:
        return self.session.is_closed

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_wire_listener(self, listener: WireListener) -> None:
        self._wire_listeners.append(listener)

    def add_packet_listener(self, listener: PacketListener) -> None:
        self._packet_listeners.append(listener)

    def send(self, payload: dict[str, Any]) -> None:
        self.session.send(payload)
        self._perform()

    def heartbeat(self) -> None:
        self.session.heartbeat()
        self._perform()

    def reconnect(self, resume: bool = True, *, code: int | None = None) -> None:
        self.session.reconnect(resume, code=code)
        self._perform()

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        self.session.close(code, reason)
        self._perform()

    def terminate(self) -> None:
        """Drop the TCP connection without a close frame, as a dead network would."""
        self.session.terminate()
        self._perform()

    def prevent_reconnect(self) -> None:
        self.session.prevent_reconnect()
        self._perform()

    # --- the driver loop -------------------------------------------------------------

    async def run(self) -> None:
        """Connect and follow the session until it ends; fatal closes raise GatewayClosed."""
        if self._running:
            raise RuntimeError("this Websocket is already running")
        self._running = True
        try:
            self.session.connect()
            self._perform()
            while not self._finished():
                deadline = self.session.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self._clock())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                self.session.tick()
                self._perform()
                self._wake.clear()  # this loop's own perform needs no second pass
        finally:
            self._running = False
            await self._discard_connection()
        if self._fatal is not None:
            raise GatewayClosed(
                self._fatal.code,
                f"{self._fatal.description}"
                + (f" (gateway said: {self._fatal.reason})" if self._fatal.reason else ""),
                reconnectable=False,
            )

    def _finished(self) -> bool:
        return (
            self.session.status is GatewayStatus.DISCONNECTED
            and self._conn is None
            and self.session.next_deadline() is None
        )

    def _perform(self) -> None:
        """Carry out what the session asked for, in order; tell listeners everything."""
        for action in self.session.actions():
            if isinstance(action, SendPayload):
                self._send(action)
            elif isinstance(action, OpenConnection):
                self._open(action.url)
            elif isinstance(action, CloseConnection):
                self._close(action.code, action.reason)
            elif isinstance(action, DropConnection):
                self._drop()
            elif isinstance(action, FatalClose):
                self._fatal = action
            for listener in self._listeners:
                listener(self, action)
        self._wake.set()

    # --- connections -----------------------------------------------------------------

    def _open(self, url: str) -> None:
        self._connections += 1
        conn = _Connection(self._connections, url, self.make_reader(self.encoding, self.compress))
        self._conn = conn
        conn.tasks.append(
            asyncio.create_task(self._connect(conn), name=f"birbctl-conn-{conn.number}")
        )

    async def _connect(self, conn: _Connection) -> None:
        try:
            ws = await connect(
                conn.url,
                open_timeout=OPEN_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                ping_interval=None,  # the gateway's heartbeat is the liveness check
                compression=None,  # Discord offers no permessage-deflate
                max_size=None,  # the inflater caps message size, per message
                max_queue=None,  # never stop reading: heartbeat ACKs must get through
                user_agent_header=USER_AGENT,
                ssl=self._ssl if conn.url.startswith("wss:") else None,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            if conn is self._conn:
                self._conn = None
                conn.reported = True
                self.session.connection_failed(_describe(exc))
                self._perform()
            return
        conn.ws = ws
        if conn is not self._conn:  # superseded while opening
            ws.transport.abort()
            return
        self._wire(WireEvent(conn.number, _SEND, "open", conn.url, ts=time.time()))
        self.session.connection_opened()
        conn.tasks.append(
            asyncio.create_task(self._write(conn), name=f"birbctl-write-{conn.number}")
        )
        self._perform()
        await self._read(conn)

    async def _read(self, conn: _Connection) -> None:
        assert conn.ws is not None
        ws = conn.ws
        reader = conn.reader
        try:
            async for frame in ws:
                if conn is not self._conn:
                    break
                watched = bool(self._wire_listeners or self._packet_listeners)
                if watched:
                    ts = time.time()
                    kind: Literal["text", "binary"] = "text" if type(frame) is str else "binary"
                    self._wire(WireEvent(conn.number, _RECV, kind, frame, ts=ts))
                try:
                    payload = reader.feed_kept(frame) if watched else reader.feed(frame)
                except DecodeError as exc:
                    if self._packet_listeners and isinstance(exc, NestingError):
                        last = reader.last_message  # feed_kept set it before decoding
                        failed = PacketEvent(
                            conn.number, _RECV, None, len(frame), len(last), ts, last, exc
                        )
                        for listener in self._packet_listeners:
                            listener(self, failed)
                    self.session.receive_error(exc)
                    self._perform()
                    continue
                if payload is not None:
                    if self._packet_listeners:
                        event = PacketEvent(
                            conn.number, _RECV, payload, len(frame), len(reader.last_message), ts,
                            reader.last_message,
                        )  # fmt: skip
                        for listener in self._packet_listeners:
                            listener(self, event)
                    self.session.receive_payload(payload)
                    self._perform()
        except ConnectionClosed:
            pass
        self._closed(conn, ws)

    def _closed(self, conn: _Connection, ws: ClientConnection) -> None:
        if conn is not self._conn or conn.reported:
            return
        conn.reported = True
        self._conn = None
        for task in conn.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        close = ws.protocol.close_rcvd
        code = close.code if close is not None else None
        reason = close.reason if close is not None else "connection lost (no close frame)"
        if (
            close is None
            and ws.protocol.close_sent is not None
            and not client_close_ends_session(ws.protocol.close_sent.code)
        ):
            reason = f"closed by birbctl with {ws.protocol.close_sent.code}"
        if code == NO_STATUS_RECEIVED:  # a close frame without a code
            code = None
        if self._wire_listeners:
            self._wire(_close_event(conn, ws, code, reason))
        self.session.connection_closed(code, reason)
        self._perform()

    async def _write(self, conn: _Connection) -> None:
        assert conn.ws is not None
        ws, outbox = conn.ws, conn.outbox
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(await outbox.get())

    def _send(self, action: SendPayload) -> None:
        conn = self._conn
        if conn is None or conn.ws is None:
            return
        data = action.data
        if self.encoding == "json" and isinstance(data, bytes):
            data = data.decode()  # JSON goes as text frames, as Discord's own clients send
        conn.outbox.put_nowait(data)
        if self._wire_listeners or self._packet_listeners:
            ts = time.time()
            kind: Literal["text", "binary"] = "text" if type(data) is str else "binary"
            self._wire(WireEvent(conn.number, _SEND, kind, data, ts=ts))
            if self._packet_listeners:
                size = len(data)
                shown = action.redacted()
                raw = encode_message(shown, self.encoding)
                event = PacketEvent(conn.number, _SEND, shown, size, size, ts, raw)
                for listener in self._packet_listeners:
                    listener(self, event)

    def _close(self, code: int, reason: str) -> None:
        conn = self._conn
        if conn is None or conn.ws is None:
            return
        ws = conn.ws
        if conn.ours is None:
            conn.ours = (code, reason)
        conn.tasks.append(asyncio.create_task(ws.close(code, reason)))

    def _drop(self) -> None:
        conn = self._conn
        if conn is None or conn.ws is None:
            return
        if conn.ours is None:
            conn.ours = (None, "dropped by birbctl (no close frame)")
        conn.ws.transport.abort()

    def _wire(self, event: WireEvent) -> None:
        for listener in self._wire_listeners:
            listener(self, event)

    async def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.ws is not None:
            conn.ws.transport.abort()
        await cancel_and_wait(conn.tasks)


def _close_event(
    conn: _Connection, ws: ClientConnection, code: int | None, reason: str
) -> WireEvent:
    """The capture's close line: the server's close (or a lost connection) is "recv" with
    its code; ours is "send" with the code we sent (None for a drop), even when the
    server echoed it, unless the server's close frame came first (then we only echoed)."""
    protocol = ws.protocol
    ours = conn.ours
    server_first = protocol.close_rcvd is not None and (
        protocol.close_sent is None or protocol.close_rcvd_then_sent is True
    )
    if ours is not None and not server_first:
        sent = protocol.close_sent
        if sent is not None:
            ours = (None if sent.code == 1005 else sent.code, sent.reason)
        return WireEvent(conn.number, _SEND, "close", ours[1], ours[0], ts=time.time())
    return WireEvent(conn.number, _RECV, "close", reason, code, ts=time.time())


def _describe(exc: BaseException) -> str:
    """Why a connection could not be opened, in a user's words ("connection refused").

    The session puts "could not connect: " in front, so this text never does; errno
    numbers and asyncio's "Connect call failed (addr)" wording are left out."""
    import os
    import re

    if isinstance(exc, TimeoutError):
        return f"no answer within {OPEN_TIMEOUT:g} s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc.strerror}"
    if isinstance(exc, OSError):
        # One address tried: errno is set. Several (IPv6 and IPv4): "Multiple
        # exceptions: [Errno 111] ..., [Errno 111] ...", one errno per address.
        found = re.findall(r"\[Errno (-?\d+)\]", str(exc))
        codes = sorted({exc.errno} if exc.errno else {int(n) for n in found})
        if codes and codes[0] < 0:  # getaddrinfo's EAI_* codes
            return f"host name lookup failed ({(exc.strerror or 'no address').lower()})"
        if codes:
            return ", ".join(os.strerror(code).lower() for code in codes)
    return str(exc) or type(exc).__name__
