"""One bot connection through the proxy: the bot's websocket, the upstream one, the relay
between them (relay.py), and what faults and `birbctl reconnect|terminate|close` do to it.

Two pumps move frames through the relay until either side closes; the close, with its
code and reason, is passed on to the other side, and a dropped TCP connection is passed
on as a dropped connection (no close frame), so the upstream session stays resumable
exactly when it would have without the proxy.

The proxy can also end the connection itself (a fault, a control command). It then
closes (or drops) the bot's side with the code asked for, and the upstream side with
4000, which keeps the gateway session resumable for the bot's RESUME, or 1000 when the
fault ends the session (op 9 false, a close code after which a client must identify
again), so no stale session lingers upstream. After an op 7 or op 9 it sends the bot,
the proxy detaches: upstream is closed at once (what it sends meanwhile is not passed:
the bot's RESUME gets it replayed), and the bot's connection stays open until the bot
closes it, as the gateway's does, or DETACHED_GRACE passes.

Everything sent toward the bot goes out under one lock, in the order the relay
compresses it, so injected and held messages never reorder the bot's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from birbctl.emulator.faults import Fault
from birbctl.errors import ConfigError
from birbctl.protocol.opcodes import (
    CLOSE_TO_RESUME,
    SERVER_CLOSE_CODES_TEXT,
    CloseCode,
    ends_session,
    server_may_send,
)
from birbctl.proxy.cork import Cork
from birbctl.proxy.faults import ConnectionFaults, Strike
from birbctl.proxy.relay import Frame, GatewayRelay, RelayBroken
from birbctl.tasks import cancel_and_wait

#: How long a close handshake may take on either side before the connection is dropped.
CLOSE_TIMEOUT = 5.0
#: After an op 7 or op 9 from the proxy, how long the bot has to close its connection
#: before the proxy closes it (4000).
DETACHED_GRACE = 10.0
GOING_AWAY = int(CloseCode.GOING_AWAY)
INTERNAL_ERROR = 1011
#: Close codes no close frame may carry (RFC 6455 7.4.1): no code, dropped, TLS failed.
_NOT_ON_THE_WIRE = frozenset({0, 1005, 1006, 1015})

#: Who ended the connection ("bot", "upstream" or "proxy"), the close code (None: it was
#: dropped) and the reason.
Ending = tuple[str, int | None, str]
Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


@dataclass(frozen=True, slots=True)
class _Cut:
    """The proxy ends the connection: the bot's side with `bot_code` (None: its TCP is
    dropped), upstream's with `upstream_code`. `detach`: the bot got op 7 or op 9, its
    side stays open for it to close."""

    bot_code: int | None
    upstream_code: int
    reason: str
    detach: bool = False


def _upstream_code(bot_code: int | None) -> int:
    """Upstream's close when the proxy closes the bot with `bot_code`: 1000 ends the
    gateway session where the bot will not resume it, 4000 keeps it."""
    if bot_code is not None and ends_session(bot_code):
        return int(CloseCode.NORMAL_CLOSURE)
    return CLOSE_TO_RESUME


class BotLink:
    """`await link.run()` serves the connection until it ends; `strike` and `act` break
    it on purpose while it runs."""

    def __init__(
        self,
        bot: web.WebSocketResponse,
        request: web.Request,
        upstream: aiohttp.ClientWebSocketResponse,
        relay: GatewayRelay,
        *,
        stopping: asyncio.Event,
        faults: ConnectionFaults | None = None,
        note: Callable[[str], None] = lambda _text: None,
        clock: Callable[[], float] = time.time,
        junk: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.bot = bot
        self.request = request
        self.upstream = upstream
        self.relay = relay
        self.faults = faults
        self._stopping = stopping
        self._note = note
        self._clock = clock
        self._junk = junk  # the bytes of a `corrupt` frame
        self._lock = asyncio.Lock()  # everything toward the bot
        self._cork = Cork(request.transport)  # a burst from upstream leaves in one send
        self._cut: asyncio.Future[_Cut] = asyncio.get_running_loop().create_future()
        self._wake = asyncio.Event()
        #: Upstream is closed for an op 7 or op 9 the proxy sent: nothing passes now.
        self.detached = False
        self.faults_struck = 0

    # --- breaking it on purpose ----------------------------------------------------------

    async def strike(self, strike: Strike) -> None:
        """Apply a fault (the emulator's vocabulary, emulator/faults.py) to this link."""
        if self.detached or self._cut.done():
            return
        fault = strike.fault
        action = fault.action
        if strike.source != "control":
            self.faults_struck += 1
        self._note(f"fault {fault.describe()} ({strike.source}, {strike.trigger})")
        relay = self.relay
        if action in ("reconnect", "invalid_session", "request_heartbeat", "corrupt"):
            async with self._lock:
                if self.detached or self._cut.done():
                    return
                if action == "reconnect":
                    frames = relay.inject(7, None)
                elif action == "invalid_session":
                    frames = relay.inject(9, fault.resumable)
                elif action == "request_heartbeat":
                    frames = relay.inject(1, None)
                else:
                    frames = relay.corrupt(self._junk(24))
                if action in ("reconnect", "invalid_session"):
                    self.detached = True
                    relay.discard_held()  # never sent, so never recorded either
                with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
                    await _send(self.bot, frames)
            if self.detached:
                ends = _ends_session(strike)
                upstream = int(CloseCode.NORMAL_CLOSURE) if ends else CLOSE_TO_RESUME
                self._end(_Cut(None, upstream, f"birbctl proxy: {fault.describe()}", True))
        elif action == "close":
            self._end(_Cut(fault.code, _upstream_code(fault.code), fault.reason))
        elif action == "drop":
            self._end(_Cut(None, CLOSE_TO_RESUME, "birbctl proxy: dropped"))
        elif action == "zombie":
            relay.swallow_acks()
        elif action == "ack_delay":
            relay.delay_acks(fault.ms)
        elif action == "stall":
            relay.stall(fault.seconds)
        self._wake.set()

    def act(self, cmd: str, *, code: int, fresh: bool) -> str:
        """`birbctl reconnect|terminate|close` on this connection: close toward the bot
        (4000 for reconnect, the code asked for close, TCP dropped for terminate) and keep
        the upstream session resumable, so what follows is the bot's own recovery. A
        fresh reconnect sends op 9 false instead and ends the session upstream too.
        Returns what was done, for the answer."""
        if cmd == "close" and not server_may_send(code):
            raise ConfigError(
                f"close code {code} cannot be sent to a bot (use {SERVER_CLOSE_CODES_TEXT})"
            )
        if self.detached or self._cut.done():
            return "already closing"
        reason = f"birbctl {cmd}"
        if cmd == "reconnect" and fresh:
            task = asyncio.get_running_loop().create_task(
                self.strike(Strike(Fault("invalid_session", resumable=False), cmd, "control"))
            )
            task.add_done_callback(_consume)
            return "op 9 (not resumable) sent"
        if cmd == "reconnect":
            self._end(_Cut(CLOSE_TO_RESUME, CLOSE_TO_RESUME, reason))
            return f"closed with {CLOSE_TO_RESUME}"
        if cmd == "terminate":
            self._end(_Cut(None, CLOSE_TO_RESUME, reason))
            return "dropped"
        self._end(_Cut(code, CLOSE_TO_RESUME, reason))
        return f"closed with {code}"

    def _end(self, cut: _Cut) -> None:
        if not self._cut.done():
            self._cut.set_result(cut)

    # --- serving -------------------------------------------------------------------------

    async def run(self) -> Ending:
        """Frames both ways until one side ends, or the proxy ends it; then that ending
        is passed to the other side."""
        if self.faults is not None:
            for strike in self.faults.opened():
                await self.strike(strike)
        down = asyncio.create_task(self._from_upstream())
        up = asyncio.create_task(self._from_bot())
        timers = asyncio.create_task(self._timers())
        stop = asyncio.create_task(self._stopping.wait())
        tasks = (down, up, timers, stop)
        try:
            waited: set[asyncio.Future[Any]] = {down, up, timers, stop, self._cut}
            await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            if self._cut.done() and not stop.done():
                return await self._finish_cut(self._cut.result(), down, up, stop)
            if stop.done():
                ending: Ending = ("proxy", GOING_AWAY, "birbctl proxy is stopping")
            else:
                pump = down if down.done() else up if up.done() else timers
                failed = pump.exception()
                if failed is None and pump is not timers:
                    # ("proxy", ...) here: the relay broke (it has said so itself).
                    ending = pump.result()  # type: ignore[assignment]
                else:
                    # A bug, not the traffic: this connection ends (1011, both sides), the
                    # proxy goes on. Only the error's class is shown: its text could quote
                    # what the bot sent.
                    name = type(failed).__name__ if failed is not None else "timers ended"
                    ending = ("proxy", INTERNAL_ERROR, f"birbctl proxy: internal error ({name})")
            return await self._pass_on(ending, from_bot=stop.done())
        except TimeoutError:
            self._drop_bot()
            _drop_upstream(self.upstream)
            return ("proxy", None, "close handshake timed out")
        finally:
            await cancel_and_wait(tasks)
            if not self.upstream.closed:
                _drop_upstream(self.upstream)

    async def _pass_on(self, ending: Ending, *, from_bot: bool) -> Ending:
        """One side ended: tell the relay, and end the other side the same way."""
        side, code, reason = ending
        code = _sent_code(code)
        message = reason.encode()[:123]  # a close frame's reason fits in 123 bytes
        if side == "upstream":
            self.relay.upstream_closed(code, reason)
        elif side == "bot" or from_bot:
            self.relay.bot_closed(code, reason)
        async with asyncio.timeout(CLOSE_TIMEOUT + 1):
            if side != "bot":
                if code is None:
                    self._drop_bot()
                else:
                    await self.bot.close(code=code, message=message)
            if side != "upstream" and not self.upstream.closed:
                if code is None:
                    _drop_upstream(self.upstream)
                else:
                    await self.upstream.close(code=code, message=message)
        return (side, code, reason)

    async def _finish_cut(
        self,
        cut: _Cut,
        down: asyncio.Task[Ending],
        up: asyncio.Task[Ending],
        stop: asyncio.Task[bool],
    ) -> Ending:
        """The proxy ends the connection (or detaches it, and waits for the bot)."""
        await cancel_and_wait([down])  # aiohttp's close waits for a receive in progress
        if not cut.detach:
            await cancel_and_wait([up])
            self.relay.upstream_closed(cut.bot_code, cut.reason)  # as the bot saw it
            async with asyncio.timeout(CLOSE_TIMEOUT + 1):
                if cut.bot_code is None:
                    self._drop_bot()
                else:
                    await self.bot.close(code=cut.bot_code, message=cut.reason.encode()[:123])
            await self._close_upstream(cut.upstream_code)
            return ("proxy", cut.bot_code, cut.reason)
        await self._close_upstream(cut.upstream_code)
        await asyncio.wait({up, stop}, timeout=DETACHED_GRACE, return_when=asyncio.FIRST_COMPLETED)
        if up.done() and up.exception() is None:
            side, code, reason = up.result()
            self.relay.bot_closed(code, reason)
            return (side, code, reason)
        await cancel_and_wait([up])
        code = GOING_AWAY if stop.done() else CLOSE_TO_RESUME
        reason = "birbctl proxy is stopping" if stop.done() else cut.reason
        self.relay.upstream_closed(code, reason)
        async with asyncio.timeout(CLOSE_TIMEOUT + 1):
            await self.bot.close(code=code, message=reason.encode()[:123])
        return ("proxy", code, reason)

    async def _close_upstream(self, code: int) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError, aiohttp.ClientError):
            async with asyncio.timeout(CLOSE_TIMEOUT + 1):
                await self.upstream.close(code=code, message=b"")
        if not self.upstream.closed:
            _drop_upstream(self.upstream)

    # --- the pumps -----------------------------------------------------------------------

    async def _from_upstream(self) -> Ending:
        upstream, bot, relay, faults = self.upstream, self.bot, self.relay, self.faults
        lock, cork = self._lock, self._cork
        while True:
            message = await upstream.receive()
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                async with lock:
                    if self.detached:
                        continue
                    try:
                        frames = relay.from_upstream(message.data)
                    except RelayBroken as broken:
                        return ("proxy", broken.code, broken.reason)
                    if frames:  # none while a message is incomplete, or held
                        cork.hold()
                    try:
                        await _send(bot, frames)
                    except (ConnectionError, aiohttp.ClientError, RuntimeError):
                        return ("bot", None, "")
                if relay.next_release is not None:
                    self._wake.set()
                if faults is not None:
                    op = relay.last_upstream_op
                    for strike in faults.upstream(op, relay.last_t, relay.session_id):
                        await self.strike(strike)
                    if op == 0 or op == 10:
                        self._wake.set()  # a READY or HELLO can start a timeline
            elif message.type is WSMsgType.CLOSE:
                return ("upstream", message.data, message.extra or "")
            elif message.type is WSMsgType.ERROR:
                return ("upstream", None, str(message.data))
            else:  # CLOSING, CLOSED: the connection is gone
                return ("upstream", _sent_code(upstream.close_code), "")

    async def _from_bot(self) -> Ending:
        bot, upstream, relay, faults = self.bot, self.upstream, self.relay, self.faults
        while True:
            message = await bot.receive()
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                frames = relay.from_bot(message.data)
                if faults is not None and not self.detached:
                    strikes = faults.bot(relay.last_bot_op)
                    if relay.last_bot_op == 6 and any(map(_ends_session, strikes)):
                        # Upstream must know which session a RESUME named to end it.
                        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                            await _send(upstream, frames)
                    for strike in strikes:
                        await self.strike(strike)
                if self.detached or self._cut.done():
                    continue  # upstream is closed, or the fault answered it
                try:
                    await _send(upstream, frames)
                except (ConnectionError, aiohttp.ClientError, RuntimeError):
                    return ("upstream", None, "")
            elif message.type is WSMsgType.CLOSE:
                return ("bot", message.data, message.extra or "")
            elif message.type is WSMsgType.ERROR:
                return ("bot", None, str(message.data))
            else:
                return ("bot", _sent_code(bot.close_code), "")

    async def _timers(self) -> None:
        """Deliver held messages when due; strike `at` and delayed `on = hello` steps."""
        relay, faults, wake = self.relay, self.faults, self._wake
        while True:
            deadlines = [relay.next_release]
            if faults is not None:
                deadlines.append(faults.next_deadline())
            deadline = min((d for d in deadlines if d is not None), default=None)
            wake.clear()
            if deadline is None:
                await wake.wait()
                continue
            delay = deadline - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wake.wait()
                continue
            if self.detached:  # nothing more goes to the bot on this connection
                relay.discard_held()
                await asyncio.get_running_loop().create_future()  # until cancelled
            async with self._lock:
                frames = relay.release()
                if frames and not self.detached:
                    with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
                        await _send(self.bot, frames)
            if faults is not None:
                for strike in faults.due():
                    await self.strike(strike)

    def _drop_bot(self) -> None:
        """End the bot's TCP connection without a close frame, as a dropped upstream did."""
        if self.request.transport is not None:
            self.request.transport.abort()


def _ends_session(strike: Strike) -> bool:
    fault = strike.fault
    return fault.action == "invalid_session" and not fault.resumable


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


async def _send(ws: Socket, frames: list[Frame]) -> None:
    for frame in frames:
        if isinstance(frame, str):
            await ws.send_str(frame)
        else:
            await ws.send_bytes(frame)


def _sent_code(code: int | None) -> int | None:
    return None if code is None or code in _NOT_ON_THE_WIRE else code


def _drop_upstream(upstream: aiohttp.ClientWebSocketResponse) -> None:
    """End the upstream TCP connection without a close frame, so the session stays
    resumable as it does when a bot's connection drops. aiohttp's client websocket has
    no public way to do this; closing its response closes the connection."""
    upstream._response.close()
