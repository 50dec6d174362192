"""The proxy's one port: REST under the upstream's API path, the gateway on any other,
and the loopback admin endpoint (/_birbctl/) that injects faults, as `birbctl serve`'s.

A bot's websocket is accepted only once the upstream one is open, so an upstream that is
down or refuses gives the bot a failed upgrade (502, or the upstream's own status), as a
real outage does. Then a BotLink (link.py) serves the connection through a relay
(relay.py: it reads every message and rewrites READY's resume URL) until either side
closes, or a fault or a control command ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp import web
from yarl import URL

from birbctl.emulator.faults import FaultStep, parse_admin_fault
from birbctl.errors import BirbError, ConfigError
from birbctl.loopback import admin_allowed, is_loopback
from birbctl.options import DEFAULT_API_URL
from birbctl.protocol.wire import Compression, Encoding
from birbctl.proxy.faults import FaultPlan, Strike
from birbctl.proxy.link import CLOSE_TIMEOUT, BotLink, _drop_upstream
from birbctl.proxy.relay import GatewayRelay
from birbctl.proxy.rest import (
    MAX_REQUEST_BODY,
    RestCall,
    RestForwarder,
    Upstream,
    describe_failure,
    error_answer,
    upstream_ssl,
)
from birbctl.proxy.routes import ResumeRoutes, SessionShards, is_resume_path
from birbctl.proxy.rows import ProxyRows

#: What one upstream message may be: a large bot's READY or GUILD_CREATE, uncompressed.
MAX_UPSTREAM_MESSAGE = 64 * 1024 * 1024
#: What one bot message may be. The gateway closes with 4002 past 4096 bytes; this only
#: bounds what is buffered to pass such a message on so the upstream can say so.
MAX_BOT_MESSAGE = 1024 * 1024
#: Opening the upstream TCP (and TLS) connection; answers may then take a while (uploads).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
#: The admin endpoint's path prefix (as `birbctl serve`'s).
ADMIN_PREFIX = "/_birbctl/"


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:PORT` for IPv6) on a loopback address: the proxy forwards bot
    tokens, so it is not offered to the network."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:0")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"--listen {text!r}: the port is not a number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--listen {text!r}: the port must be 0-65535")
    host = host.strip("[]")
    if not is_loopback(host):
        raise ConfigError(
            f"--listen {text!r}: not a loopback address; the proxy passes bot tokens on, "
            "so it listens on 127.0.0.1 or ::1 only"
        )
    return host, port


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    host: str = "127.0.0.1"
    port: int = 0
    upstream: str = DEFAULT_API_URL
    upstream_ca: str | None = None
    #: Fault steps (`--fault`, `--scenario`), in the emulator's vocabulary.
    steps: tuple[FaultStep, ...] = ()
    #: Seeds the `probability` of handshake steps (None: a random seed).
    seed: int | None = None


class RelayWatcher(Protocol):
    """What views and recordings implement to see every bot connection: `opened` before
    its first frame (add listeners to the relay there), `ended` once both sides are
    closed, with who ended it ("bot", "upstream" or "proxy"), the close code (None: the
    connection was dropped) and the reason. Neither may raise: the proxy's job is the
    bot's traffic."""

    def opened(self, relay: GatewayRelay) -> None: ...

    def ended(self, relay: GatewayRelay, side: str, code: int | None, reason: str) -> None: ...


def _ignore(_text: str) -> None:
    pass


def _ignore_call(_call: RestCall) -> None:
    pass


class ProxyServer:
    """`async with ProxyServer(config) as proxy:` serves until the block ends."""

    def __init__(
        self,
        config: ProxyConfig,
        *,
        on_rest: Callable[[RestCall], None] = _ignore_call,
        on_note: Callable[[str], None] = _ignore,
        on_failure: Callable[[str], None] = _ignore,
        watchers: Sequence[RelayWatcher] = (),
        rows: ProxyRows | None = None,
    ) -> None:
        """`on_rest` gets each REST call, `on_note` each bot connection opened or closed,
        `on_failure` each upstream failure; none ever sees a token. `watchers` see each
        bot connection's relay (--format, --record); without them the relay builds no
        events at all."""
        self.config = config
        self.upstream = Upstream.parse(config.upstream)
        self._ssl = upstream_ssl(config.upstream_ca)  # a bad file fails before listening
        self._on_rest = on_rest
        self._on_note = on_note
        self._on_failure = on_failure
        self._watchers = tuple(watchers)
        self.routes = ResumeRoutes()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._rest: RestForwarder | None = None
        self._ids = itertools.count(1)
        self._stopping = asyncio.Event()
        self._active: set[asyncio.Task[object]] = set()
        self.shards = SessionShards()
        #: The bots' shards, across their connections: `status`, `ping`, the dashboard.
        self.rows = rows if rows is not None else ProxyRows()
        self.plan = FaultPlan(config.steps, seed=config.seed)
        #: The bot connections open now, by number: what `birbctl status` and `ping` show
        #: and what control commands and the admin endpoint act on.
        self.links: dict[int, BotLink] = {}
        self._faults_before = 0  # struck on bot connections that have ended

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            # No limit on connections: each bot websocket holds one for its whole life,
            # so a pool limit would stall a bot's 101st shard; the bots bound the count.
            connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
            ),
            auto_decompress=False,  # bodies go back as the upstream encoded them
            cookie_jar=aiohttp.DummyCookieJar(),  # one proxy, many bots: keep no cookies
        )
        self._rest = RestForwarder(
            self.upstream,
            self._session,
            gateway_base=lambda: self.gateway_url,
            on_call=self._on_rest,
            on_failure=self._on_failure,
        )
        app = web.Application(client_max_size=MAX_REQUEST_BODY)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        self.port = int(self._runner.addresses[0][1])
        self.routes.base = self.gateway_url

    async def stop(self) -> None:
        """Close every bot connection (1001, both sides) and stop listening."""
        self._stopping.set()
        if self._active:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT + 1):
                    await asyncio.gather(*self._active, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ProxyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def _host(self) -> str:
        host = self.config.host
        return f"[{host}]" if ":" in host else host

    @property
    def gateway_url(self) -> str:
        """What the bot is told to connect to (the rewritten GET /gateway/bot url)."""
        return f"ws://{self._host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """The API base a bot points at instead of the upstream's."""
        return f"http://{self._host}:{self.port}{self.upstream.prefix}"

    @property
    def faults_injected(self) -> int:
        """Faults struck so far, on every bot connection (steps, admin, control)."""
        return self._faults_before + sum(link.faults_struck for link in self.links.values())

    @property
    def relays(self) -> dict[int, GatewayRelay]:
        """The open bot connections' relays, by number."""
        return {number: link.relay for number, link in self.links.items()}

    # --- HTTP ----------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        assert self._rest is not None
        rest = self.upstream.is_rest_path(request.path)
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if not rest and upgrade and request.method == "GET":
            task = asyncio.current_task()
            assert task is not None
            self._active.add(task)
            try:
                return await self._gateway(request)
            finally:
                self._active.discard(task)
        if rest:
            return await self._rest.handle(request)
        if request.path.startswith(ADMIN_PREFIX):
            return await self._admin(request)
        return error_answer(404, "404: Not Found")

    # --- the admin endpoint --------------------------------------------------------------

    async def _admin(self, request: web.Request) -> web.StreamResponse:
        """GET /_birbctl/sessions lists the bot connections; POST /_birbctl/faults?action=
        strikes them now (`connection=N`, `session=ID prefix` or `shard=ID` choose; all
        by default), or arms a step for the next ones to reach a point (`on=`). Loopback
        peers only, and no browser pages (no Origin)."""
        if not admin_allowed(request):
            return error_answer(403, "403: Forbidden")
        route = request.path[len(ADMIN_PREFIX) :].rstrip("/")
        if route == "sessions" and request.method == "GET":
            return web.json_response(self.describe())
        if route != "faults":
            return error_answer(404, "404: Not Found")
        if request.method != "POST":
            return error_answer(405, "405: use POST")
        try:
            asked = parse_admin_fault(
                dict(request.query),
                await request.read(),
                target_keys=("connection", "session", "shard"),
            )
        except BirbError as exc:
            return error_answer(400, str(exc))
        if asked.step is not None:
            armed = self.plan.handshake.add(asked.step)
            self._on_note(f"admin: armed step {armed.id}: {asked.step.describe()}")
            answer = {"fault": asked.fault.describe(), "armed": armed.describe(), "applied": []}
            return web.json_response(answer)
        links = self.select(**asked.targets)
        for _number, link in links:
            await link.strike(Strike(asked.fault, "admin", "admin"))
        applied = [number for number, _ in links]
        return web.json_response({"fault": asked.fault.describe(), "applied": applied})

    def select(
        self, *, connection: str | None = None, session: str | None = None, shard: str | None = None
    ) -> list[tuple[int, BotLink]]:
        """The open bot connections matching a number, a session id prefix or a shard id
        (all of them when none is given)."""
        chosen = []
        for number in sorted(self.links):
            link = self.links[number]
            relay = link.relay
            if connection is not None and str(number) != connection:
                continue
            if session is not None and not (relay.session_id or "\0").startswith(session):
                continue
            if shard is not None and (relay.shard is None or str(relay.shard[0]) != shard):
                continue
            chosen.append((number, link))
        return chosen

    def describe(self) -> dict[str, object]:
        return {
            "gateway": self.gateway_url,
            "connections": [
                {
                    "connection": number,
                    "shard": None if link.relay.shard is None else list(link.relay.shard),
                    "session": link.relay.session_id,
                    "seq": link.relay.seq,
                    "status": str(link.relay.status.value),
                }
                for number, link in sorted(self.links.items())
            ],
            "handshake_steps": [a.describe() for a in self.plan.handshake.armed],
            "faults_injected": self.faults_injected,
        }

    # --- the gateway ---------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None and self._rest is not None
        number = next(self._ids)
        bot = web.WebSocketResponse(
            compress=False, max_msg_size=MAX_BOT_MESSAGE, autoping=True, timeout=CLOSE_TIMEOUT
        )
        if not bot.can_prepare(request).ok:  # not a websocket handshake aiohttp can answer
            return error_answer(400, "400: Bad Request")
        try:
            encoding = Encoding(request.query.get("encoding", Encoding.JSON.value))
            compress = Compression.from_query(request.query.get("compress"))
        except ValueError as exc:
            self._on_note(f"bot #{number} refused: {exc}")
            return error_answer(400, f"400: {exc}")
        real = self.routes.lookup(request.path) if is_resume_path(request.path) else None
        kind = "resume" if real is not None else "new"
        if real is None and is_resume_path(request.path):
            self._on_note(f"bot #{number}: unknown resume URL; using the upstream's gateway")
        target = "the gateway"
        try:
            base = real if real is not None else await self._rest.gateway_url()
            url = _with_query(base, request.rel_url.raw_query_string)
            target = f"{url.scheme}://{url.authority}"
            upstream = await self._session.ws_connect(
                url,
                compress=0,  # Discord offers no permessage-deflate
                autoping=True,
                heartbeat=None,  # the gateway's liveness check is the bot's own heartbeat
                max_msg_size=MAX_UPSTREAM_MESSAGE,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
                headers=_user_agent(request),
            )
        except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError) as exc:
            if real is None:
                self._rest.forget_gateway_url()
            if isinstance(exc, aiohttp.ClientError | TimeoutError):  # (some are ValueErrors)
                why = describe_failure(
                    exc, target if target != "the gateway" else self.upstream.origin
                )
            else:
                why = f"upstream {self.upstream.origin}: GET /gateway named no usable url"
            self._on_failure(f"bot #{number}: {why}")
            status = exc.status if isinstance(exc, aiohttp.WSServerHandshakeError) else 502
            status = status if status >= 400 else 502
            return error_answer(status, f"{status}: the upstream gateway is unavailable")
        try:
            await bot.prepare(request)
        except (ConnectionError, aiohttp.ClientError, RuntimeError):
            _drop_upstream(upstream)  # the bot has gone: its session stays resumable
            return bot
        relay = GatewayRelay(
            encoding=encoding,
            compress=compress,
            resume_url_for=self.routes.register,
            url=str(url),
            conn=number,
            shards=self.shards,
        )
        self._on_note(f"bot #{number} connected ({kind}, {encoding}, {compress}) -> {target}")
        if self._watchers:
            for watcher in self._watchers:
                watcher.opened(relay)
        link = BotLink(
            bot,
            request,
            upstream,
            relay,
            stopping=self._stopping,
            faults=self.plan.connection(time.time) if self.plan.has_steps else None,
            note=lambda text: self._on_note(f"bot #{number}{self._shard_words(relay)}: {text}"),
            junk=self.plan.junk,
        )
        self.links[number] = link
        self.rows.opened(number, relay)
        side: str = "proxy"
        code: int | None = None
        try:
            side, code, reason = await link.run()
        finally:
            del self.links[number]
            self._faults_before += link.faults_struck
            self.rows.ended(number, relay, side, code)
        for watcher in self._watchers:
            watcher.ended(relay, side, code, reason)
        self._on_note(
            f"bot #{number}{self._shard_words(relay)} {_ending_words(side, code, reason)}"
        )
        return bot

    @staticmethod
    def _shard_words(relay: GatewayRelay) -> str:
        """' shard 0/1' from the connection's IDENTIFY, or from the IDENTIFY of the
        session it resumed; empty when neither was seen."""
        shard = relay.shard
        return "" if shard is None else f" shard {shard[0]}/{shard[1]}"


def _ending_words(side: str, code: int | None, reason: str) -> str:
    said = " (dropped)" if code is None else f" {code}"
    why = f" ({reason})" if reason else ""
    return f"closed by {side}{said}{why}"


def _with_query(base: str, query_string: str) -> URL:
    """The upstream gateway URL with the bot's own query (v, encoding, compress) on it."""
    url = URL(base)
    if url.scheme not in ("ws", "wss") or not url.host:
        raise ValueError(f"not a gateway URL: {base!r}")
    plain = str(url.with_query(None).with_fragment(None))
    return URL(plain + (f"?{query_string}" if query_string else ""), encoded=True)


def _user_agent(request: web.Request) -> dict[str, str]:
    agent = request.headers.get("User-Agent")
    return {"User-Agent": agent} if agent is not None else {}
