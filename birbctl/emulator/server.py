"""The emulator's I/O: one port for the gateway websocket (any path), the REST endpoints
(/api...), and the loopback admin endpoint (/_birbctl/...), on websockets' asyncio server.

websockets answers plain HTTP from `process_request`, so REST needs no second server;
it reads no request bodies, so the admin endpoint takes its parameters from the query.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import ipaddress
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from birbctl.emulator.chaos import ChaosConfig, IdentifyRecord, InjectedFault
from birbctl.emulator.config import EmulatorConfig
from birbctl.emulator.faults import Fault, parse_fault, parse_step
from birbctl.emulator.gateway import (
    BadQuery,
    CloseConnection,
    DropConnection,
    GatewayConnection,
    GatewayContext,
    SendFrame,
    parse_connect_query,
)
from birbctl.emulator.recording import Recording, load_recording
from birbctl.emulator.rest import handle_rest, is_rest_path
from birbctl.emulator.traffic import TrafficGenerator
from birbctl.errors import BirbError, ConfigError

ADMIN_PREFIX = "/_birbctl/"
#: Client messages over 4096 bytes get the gateway's own 4002 ("Payload too large."); this
#: bounds what websockets buffers to find out. A message over it is refused by websockets
#: itself with 1009 (message too big) before the gateway sees it: one client cannot make
#: the emulator hold an unbounded message.
MAX_CLIENT_MESSAGE = 1024 * 1024
_TRAFFIC_TICK = 0.05
_SWEEP_EVERY = 1.0
#: The longest the replay loop sleeps without looking at its sessions.
_REPLAY_IDLE = 0.05
#: A deadline this close counts as due: its timer has fired (asyncio may fire one up to
#: the clock's resolution early), so it is armed again rather than kept.
_TIMER_SLACK = 0.001


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _error_response(status: int, message: str) -> Response:
    """An error as Discord's API words one: `{"message": ..., "code": 0}`."""
    return _json_response(status, {"message": message, "code": 0})


def _json_response(status: int, body: Any, extra: dict[str, str] | None = None) -> Response:
    data = orjson.dumps(body)
    headers = Headers()
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(data))
    headers["Connection"] = "close"
    for key, value in (extra or {}).items():
        headers[key] = value
    reason = http.HTTPStatus(status).phrase
    return Response(status, reason, headers, data)


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
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.started = time.time()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._clock = loop.time
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            compression=None,  # Discord offers no permessage-deflate; clients must not use it
            ping_interval=None,  # the gateway's liveness check is the heartbeat
            max_size=MAX_CLIENT_MESSAGE,
            close_timeout=2,
            server_header="birbctl-emulator",
        )
        sockname = self._server.sockets[0].getsockname()
        self.port = int(sockname[1])
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
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

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

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path
        if request.headers.get("Upgrade", "").lower() == "websocket":
            try:
                parse_connect_query(path)
            except BadQuery as exc:
                return _error_response(400, str(exc))
            return None
        method = getattr(request, "method", "GET")
        if path.startswith(ADMIN_PREFIX):
            return self._admin(connection, request, method)
        if is_rest_path(path):
            answer = handle_rest(
                self.ctx, method, path, request.headers.get("Authorization"), self._clock()
            )
            return _json_response(answer.status, answer.body, answer.headers)
        return _error_response(404, "404: Not Found")

    def _admin(self, connection: ServerConnection, request: Request, method: str) -> Response:
        """GET /_birbctl/sessions lists connections; POST /_birbctl/faults?action=...
        injects a fault. Loopback peers only, and no browser pages (no Origin)."""
        peer = connection.remote_address[0] if connection.remote_address else ""
        if not is_loopback(str(peer)) or "Origin" in request.headers:
            return _error_response(403, "403: Forbidden")
        parts = urlsplit(request.path)
        route = parts.path[len(ADMIN_PREFIX) :].rstrip("/")
        if route == "sessions" and method == "GET":
            return _json_response(200, self.describe())
        if route != "faults":
            return _error_response(404, "404: Not Found")
        if method != "POST":
            return _error_response(405, "405: use POST")
        try:
            return self._admin_fault(dict(parse_qsl(parts.query)))
        except BirbError as exc:
            return _error_response(400, str(exc))

    def _admin_fault(self, query: dict[str, str]) -> Response:
        """POST /_birbctl/faults: arm a handshake step (`on=`) or strike now. What the
        query gets wrong raises BirbError, which the caller answers with 400."""
        target_session = query.pop("session", None)
        target_conn = query.pop("connection", None)
        if "on" in query:
            # A handshake step, added for the rest of the run: it strikes connections
            # that reach the point from now on, not the ones that are live.
            if target_session is not None or target_conn is not None:
                raise ConfigError(
                    "fault: session and connection do not go with on=; it strikes the "
                    "next connections to reach that point"
                )
            step = parse_step(query, where="fault")
            armed = self.ctx.handshake.add(step)
            self.ctx.note(f"admin: armed step {armed.id}: {step.describe()}")
            body = {"fault": step.fault.describe(), "armed": armed.describe(), "applied": []}
            return _json_response(200, body)
        if "at" in query or "after_events" in query:
            raise ConfigError(
                "fault: at and after_events are session timelines (--fault, --scenario); "
                "here a fault strikes now, or on=connect|hello|identify|resume"
            )
        fault = parse_fault(query, where="fault")
        applied = self.inject(fault, session=target_session, connection=target_conn)
        return _json_response(200, {"fault": fault.describe(), "applied": applied})

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

    async def _handle(self, ws: ServerConnection) -> None:
        params = parse_connect_query(ws.request.path if ws.request else "/")
        peer = ws.remote_address
        peer_port = peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else None
        conn = GatewayConnection(self.ctx, params, self._clock(), peer_port=peer_port)
        wake = asyncio.Event()
        conn.wake = wake.set
        writer = asyncio.create_task(self._write(ws, conn, wake))
        try:
            async for message in ws:
                conn.receive(message, self._clock())
                wake.set()
        except ConnectionClosed:
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            conn.connection_lost(rcvd.code if rcvd is not None else None, self._clock())
            if not writer.done():
                writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer

    async def _write(
        self, ws: ServerConnection, conn: GatewayConnection, wake: asyncio.Event
    ) -> None:
        loop = asyncio.get_running_loop()
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
                        await ws.send(action.data, text=action.text)
                    elif type(action) is CloseConnection:
                        await ws.close(action.code, action.reason)
                        return
                    elif type(action) is DropConnection:
                        ws.transport.abort()
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
