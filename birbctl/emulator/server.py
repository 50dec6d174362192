"""The emulator's I/O: one port for the gateway websocket (any path), the REST endpoints
(/api...), and the loopback admin endpoint (/_birbctl/...), on aiohttp's low-level web
server (no router: every request comes to one handler, which picks by path and Upgrade).

aiohttp reads request bodies, so REST answers POSTs and the admin endpoint takes a JSON
body as well as its query. The websocket side is driven by hand to keep the gateway's
wire exactly as it was: no permessage-deflate, our own close handshake (the close frame
goes out in order after the frames before it, then the client's reply is awaited), and
a dropped connection is a TCP abort without a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from aiohttp import WSMsgType, web

from birbctl.emulator.chaos import ChaosConfig, IdentifyRecord, InjectedFault
from birbctl.emulator.config import EmulatorConfig
from birbctl.emulator.faults import Fault, parse_admin_fault
from birbctl.emulator.gateway import (
    BadQuery,
    CloseConnection,
    ConnectParams,
    DropConnection,
    GatewayConnection,
    GatewayContext,
    SendFrame,
    parse_connect_query,
)
from birbctl.emulator.recording import Recording, load_recording
from birbctl.emulator.rest import RestState, handle_rest, is_rest_path
from birbctl.emulator.traffic import TrafficGenerator
from birbctl.errors import BirbError
from birbctl.loopback import admin_allowed

ADMIN_PREFIX = "/_birbctl/"
#: Client messages over 4096 bytes get the gateway's own 4002 ("Payload too large."); this
#: bounds what the websocket layer buffers to find out. A message over it is refused by
#: aiohttp itself with 1009 (message too big) before the gateway sees it: one client
#: cannot make the emulator hold an unbounded message.
MAX_CLIENT_MESSAGE = 1024 * 1024
#: The largest REST or admin request body read; a bigger one is answered 413.
MAX_REQUEST_BODY = 1024 * 1024
#: How long a close handshake waits for the client's close frame before the TCP
#: connection is aborted.
CLOSE_TIMEOUT = 2.0
SERVER_HEADER = "birbctl-emulator"
#: An empty close frame: the client gave no code (RFC 6455's 1005, never sent).
_NO_CODE = 1005
_TRAFFIC_TICK = 0.05
_SWEEP_EVERY = 1.0
#: The longest the replay loop sleeps without looking at its sessions.
_REPLAY_IDLE = 0.05
#: A deadline this close counts as due: its timer has fired (asyncio may fire one up to
#: the clock's resolution early), so it is armed again rather than kept.
_TIMER_SLACK = 0.001


def _error_response(status: int, message: str) -> web.Response:
    """An error as Discord's API words one: `{"message": ..., "code": 0}`."""
    return _json_response(status, {"message": message, "code": 0})


def _json_response(status: int, body: Any, extra: dict[str, str] | None = None) -> web.Response:
    headers = {"Server": SERVER_HEADER, **(extra or {})}
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


async def _read_body(request: web.BaseRequest) -> bytes | web.Response:
    """The request's body, or the 413 that answers one over MAX_REQUEST_BODY."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error_response(413, "413: Request Entity Too Large")


class _Socket:
    """One gateway websocket's I/O state: the close handshake is ours, not aiohttp's,
    so a close frame is sent once, after every frame queued before it."""

    __slots__ = ("abort_timer", "close_sent", "transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws = ws
        self.transport = transport
        self.close_sent = False
        self.abort_timer: asyncio.TimerHandle | None = None

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame and wait (in the reader) for the client's; abort the TCP
        connection if it has not answered in CLOSE_TIMEOUT."""
        if self.close_sent:
            return
        self.close_sent = True
        self.abort_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self.abort)
        with contextlib.suppress(ConnectionError):
            await self.ws.send_frame(struct.pack("!H", code) + reason.encode(), WSMsgType.CLOSE)

    def abort(self) -> None:
        """Close the TCP connection at once, without a close frame."""
        self.close_sent = True
        self.transport.abort()

    def finished(self) -> None:
        if self.abort_timer is not None:
            self.abort_timer.cancel()
            self.abort_timer = None


class EmulatorServer:
    """`async with EmulatorServer(config) as server:` serves until the block ends."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        on_event: Callable[[str], None] | None = None,
        recording: Recording | None = None,
        chaos: ChaosConfig | None = None,
    ) -> None:
        """`recording` is `config.replay` already loaded; otherwise it is loaded here,
        so a bad capture fails before the server starts (ConfigError, DecodeError).
        `chaos`, when given, replaces `config.chaos`."""
        if chaos is not None:
            config = dataclasses.replace(config, chaos=chaos)
        self.config = config
        if recording is None and config.replay is not None:
            recording = load_recording(config.replay)
        self.ctx = GatewayContext(config, on_event=on_event, recording=recording)
        self.traffic = TrafficGenerator(seed=config.seed)
        self.rest_state = RestState()
        self._runner: web.ServerRunner | None = None
        self._sockets: set[_Socket] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._serving: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.started = time.time()
        #: Running totals for `--metrics` (birbctl.metrics.emulator reads them).
        self.connections_accepted = 0
        self.messages_sent = 0
        self.bytes_sent = 0

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._clock = loop.time
        server = web.Server(self._request, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=CLOSE_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host or None, self.config.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._serving = loop.create_future()
        self.port = int(runner.addresses[0][1])
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        self.ctx.resume_url = f"ws://{host}:{self.port}"
        feed = self._traffic_loop() if self.ctx.replay is None else self._replay_loop()
        self._tasks = [
            asyncio.create_task(feed, name="birbctl-traffic"),
            asyncio.create_task(self._sweep_loop(), name="birbctl-sweep"),
        ]
        if self.ctx.chaos is not None:
            self._tasks.append(asyncio.create_task(self._chaos_loop(), name="birbctl-chaos"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        runner, self._runner = self._runner, None
        if runner is None:
            return
        # As a server going away does: 1001 to every gateway connection, each one's close
        # handshake bounded by CLOSE_TIMEOUT, then the listener and idle HTTP connections.
        for sock in list(self._sockets):
            await sock.close(1001, "")
        handlers = [t for t in self._handlers if not t.done()]
        if handlers:
            await asyncio.wait(handlers, timeout=CLOSE_TIMEOUT + 1)
        await runner.cleanup()
        if self._serving is not None and not self._serving.done():
            self._serving.set_result(None)

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Wait until `stop()`."""
        assert self._serving is not None
        await asyncio.shield(self._serving)

    def clock(self) -> float:
        """The clock every record's `time` is on (the event loop's, in seconds)."""
        return self._clock()

    @property
    def injected_faults(self) -> deque[InjectedFault]:
        """Every fault injected so far (steps, chaos, admin), oldest first: a live view,
        not a copy (the newest 100,000; `injected_count` counts them all)."""
        return self.ctx.injected

    @property
    def injected_count(self) -> int:
        return self.ctx.injected_count

    @property
    def identify_violations(self) -> deque[IdentifyRecord]:
        """IDENTIFYs that came under 5 s after the previous one of their bucket
        (`shard_id % max_concurrency`): recorded and logged, not closed. A live view."""
        return self.ctx.identifies.violations

    @property
    def identify_violation_count(self) -> int:
        return self.ctx.identifies.violation_count

    @property
    def identifies(self) -> deque[IdentifyRecord]:
        """Every IDENTIFY's arrival, with its bucket and the gap to the previous one."""
        return self.ctx.identifies.arrivals

    @property
    def gateway_url(self) -> str:
        return self.ctx.resume_url

    @property
    def rest_url(self) -> str:
        return self.ctx.resume_url.replace("ws://", "http://", 1) + "/api/v10"

    @property
    def admin_url(self) -> str:
        return self.ctx.resume_url.replace("ws://", "http://", 1) + ADMIN_PREFIX.rstrip("/")

    # --- HTTP ----------------------------------------------------------------------------

    async def _request(self, request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._route(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path  # the request target as sent: path and query
        if request.headers.get("Upgrade", "").lower() == "websocket":
            try:
                params = parse_connect_query(path)
            except BadQuery as exc:
                return _error_response(400, str(exc))
            return await self._gateway(request, params)
        if path.startswith(ADMIN_PREFIX):
            return await self._admin(request)
        if is_rest_path(path):
            body = await _read_body(request)
            if isinstance(body, web.Response):
                return body
            answer = handle_rest(
                self.ctx,
                request.method,
                path,
                request.headers.get("Authorization"),
                self._clock(),
                body,
                state=self.rest_state,
            )
            return _json_response(answer.status, answer.body, answer.headers)
        return _error_response(404, "404: Not Found")

    async def _admin(self, request: web.BaseRequest) -> web.Response:
        """GET /_birbctl/sessions lists connections; POST /_birbctl/faults?action=...
        injects a fault (the parameters from the query, a JSON object body, or both).
        Loopback peers only, and no browser pages (no Origin)."""
        if not admin_allowed(request):
            return _error_response(403, "403: Forbidden")
        method = request.method
        parts = urlsplit(request.raw_path)
        route = parts.path[len(ADMIN_PREFIX) :].rstrip("/")
        if route == "sessions" and method == "GET":
            return _json_response(200, self.describe())
        if route != "faults":
            return _error_response(404, "404: Not Found")
        if method != "POST":
            return _error_response(405, "405: use POST")
        body = await _read_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            asked = parse_admin_fault(
                dict(parse_qsl(parts.query)), body, target_keys=("session", "connection")
            )
        except BirbError as exc:
            return _error_response(400, str(exc))
        if asked.step is not None:
            # A handshake step, added for the rest of the run: it strikes connections
            # that reach the point from now on, not the ones that are live.
            armed = self.ctx.handshake.add(asked.step)
            self.ctx.note(f"admin: armed step {armed.id}: {asked.step.describe()}")
            answer = {"fault": asked.fault.describe(), "armed": armed.describe(), "applied": []}
            return _json_response(200, answer)
        applied = self.inject(
            asked.fault,
            session=asked.targets.get("session"),
            connection=asked.targets.get("connection"),
        )
        return _json_response(200, {"fault": asked.fault.describe(), "applied": applied})

    def describe(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway_url,
            "connections": [c.describe() for c in list(self.ctx.connections.values())],
            # The session records, under the key this listing has always used.
            "sessions": [
                {
                    "session": r.id,
                    "shard": list(r.shard),
                    "seq": r.seq,
                    "connected": r.connection is not None,
                }
                for r in self.ctx.records
            ],
            "handshake_steps": [a.describe() for a in self.ctx.handshake.armed],
            "chaos": None if self.config.chaos is None else self.config.chaos.describe(),
            "faults_injected": self.ctx.injected_count,
            "identify_violations": self.ctx.identifies.violation_count,
        }

    def inject(
        self,
        fault: Fault,
        *,
        session: str | None = None,
        connection: str | int | None = None,
        live_only: bool = False,
    ) -> list[int]:
        """Apply `fault` to the open connections matching a session id (or its prefix) or
        a connection number; all of them when neither is given. `live_only`: only those
        with a session attached (after READY or RESUMED was queued). Returns their ids."""
        now = self._clock()
        applied = []
        for conn in list(self.ctx.connections.values()):
            if connection is not None and str(conn.id) != str(connection):
                continue
            if live_only and not conn.live:
                continue
            if session is not None and (
                conn.record is None or not conn.record.id.startswith(session)
            ):
                continue
            conn.inject(fault, now)
            if conn.wake is not None:
                conn.wake()
            applied.append(conn.id)
        return applied

    # --- websocket -----------------------------------------------------------------------

    async def _gateway(self, request: web.BaseRequest, params: ConnectParams) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            compress=False,  # Discord offers no permessage-deflate; clients must not use it
            heartbeat=None,  # the gateway's liveness check is the heartbeat
            autoclose=False,  # the close handshake is _Socket's
            autoping=True,
            # aiohttp refuses a message of max_msg_size bytes or more; this one is allowed
            max_msg_size=MAX_CLIENT_MESSAGE + 1,
            timeout=CLOSE_TIMEOUT,
        )
        ws.headers["Server"] = SERVER_HEADER
        try:
            await ws.prepare(request)
        except web.HTTPException as exc:  # a handshake aiohttp refuses (version, key...)
            return _error_response(exc.status, f"{exc.status}: {exc.text or exc.reason}")
        transport = request.transport
        if transport is None:  # the client left during the handshake
            return ws
        assert isinstance(transport, asyncio.Transport)
        sock = _Socket(ws, transport)
        peer = transport.get_extra_info("peername")
        peer_port = peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else None
        conn = GatewayConnection(self.ctx, params, self._clock(), peer_port=peer_port)
        self.connections_accepted += 1
        wake = asyncio.Event()
        conn.wake = wake.set
        self._sockets.add(sock)
        writer = asyncio.create_task(self._write(sock, conn, wake))
        client_code: int | None = None
        try:
            while True:
                msg = await ws.receive()
                kind = msg.type
                if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                    conn.receive(msg.data, self._clock())
                    wake.set()
                elif kind is WSMsgType.CLOSE:
                    client_code = msg.data or _NO_CODE
                    if sock.close_sent:
                        transport.close()  # our close answered: the server ends the TCP
                    else:
                        # The client's close: answer with its code, then end the TCP.
                        sock.close_sent = True
                        with contextlib.suppress(ConnectionError):
                            await ws.close(
                                code=1000 if client_code == _NO_CODE else client_code,
                                message=(msg.extra or "").encode(),
                                drain=False,
                            )
                    break
                else:  # CLOSED (TCP gone), ERROR (1009, 1007, 1002: aiohttp closed it)
                    break
        finally:
            sock.finished()
            self._sockets.discard(sock)
            conn.connection_lost(client_code, self._clock())
            if not writer.done():
                writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await writer
        return ws

    async def _write(self, sock: _Socket, conn: GatewayConnection, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        send = sock.ws.send_frame
        text, binary = WSMsgType.TEXT, WSMsgType.BINARY
        # The deadline timer is kept while the deadline stays put (it only moves on a
        # heartbeat): re-arming it on every wake cost a timer per dispatch per session.
        # A deadline that is due (its timer fired, maybe a hair early) is re-armed.
        timer: asyncio.TimerHandle | None = None
        timer_at: float | None = None
        try:
            while True:
                wake.clear()
                conn.tick(self._clock())
                for action in conn.actions():
                    if type(action) is SendFrame:
                        if sock.close_sent:
                            return
                        await send(action.data, text if action.text else binary)
                        self.messages_sent += 1
                        self.bytes_sent += len(action.data)
                    elif type(action) is CloseConnection:
                        await sock.close(action.code, action.reason)
                        return
                    elif type(action) is DropConnection:
                        sock.abort()
                        return
                deadline = conn.next_deadline()
                if deadline is None and conn.closed and not conn.pending:
                    return
                if deadline != timer_at or (
                    deadline is not None and deadline <= loop.time() + _TIMER_SLACK
                ):
                    if timer is not None:
                        timer.cancel()
                    timer = None if deadline is None else loop.call_at(deadline, wake.set)
                    timer_at = deadline
                await wake.wait()
        finally:
            if timer is not None:
                timer.cancel()

    # --- background ----------------------------------------------------------------------

    async def _traffic_loop(self) -> None:
        rate = self.config.event_rate
        if rate <= 0:
            return
        tick = min(_TRAFFIC_TICK, 1 / rate)
        owed: dict[tuple[int, int], float] = {}
        turn: dict[tuple[int, int], int] = {}
        world, records, traffic = self.ctx.world, self.ctx.records, self.traffic
        guilds_of: dict[tuple[int, int], list[Any]] = {}
        last = self._clock()
        while True:
            await asyncio.sleep(tick)
            now = self._clock()
            elapsed, last = now - last, now
            for key in list(records.groups):
                group = records.groups.get(key)
                if not group:
                    continue
                guilds = guilds_of.get(key)
                if guilds is None:
                    guilds = guilds_of[key] = world.guilds_for_shard(*key)
                if not guilds:
                    continue
                due = owed.get(key, 0.0) + rate * elapsed
                count = int(due)
                owed[key] = due - count
                shard_records = list(group.values())
                for _ in range(count):
                    index = turn.get(key, 0)
                    turn[key] = index + 1
                    event = traffic.next_event(guilds[index % len(guilds)])
                    for record in shard_records:
                        record.dispatch(event)
            for key in list(owed):
                if key not in records.groups:
                    del owed[key]

    async def _replay_loop(self) -> None:
        """Sleeps until the replay's next due dispatch, a new session, or a short poll
        (a detached session resuming, a backlog draining)."""
        replay = self.ctx.replay
        assert replay is not None
        started = asyncio.Event()
        replay.poke = started.set
        while True:
            started.clear()
            now = self._clock()
            next_at = replay.run(now)
            delay = _REPLAY_IDLE if next_at is None else min(next_at - now, _REPLAY_IDLE)
            if delay <= 0:
                await asyncio.sleep(0)  # more is due at once: let the writers run first
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await started.wait()

    async def _chaos_loop(self) -> None:
        """Sleeps until the chaos mode's next draw is due; each draw is O(connections)."""
        ctx = self.ctx
        while True:
            next_at = ctx.run_chaos(self._clock())
            if next_at is None:
                return
            await asyncio.sleep(max(0.0, next_at - self._clock()))

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_EVERY)
            self.ctx.records.sweep(self._clock())
