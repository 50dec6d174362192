"""GatewayRelay: one bot connection through the proxy, sans-I/O (frames in, frames out).

The server (proxy/server.py) owns two websockets per bot connection, the bot's and the
upstream one, and pumps every frame through one relay; the relay does no I/O and reads
time only from the injected clock.

Upstream -> bot. Discord compresses a connection as one stream, so the proxy cannot
forward frames and still read or change them: the relay inflates what upstream sends
with its own context (transport/inflate.py, bounded), decodes each complete message and
compresses it again toward the bot with a deflater of its own (zlib-stream: a sync
flush per message, level 1 as the emulator's; zstd-stream: the emulator's block-flushed
stream). Without compression a frame goes out exactly as it came, text or binary. Every
message passes byte-for-byte except READY, whose `d.resume_gateway_url` becomes
`resume_url_for(real_url)`: the new URL is spliced into the message's own bytes (JSON,
or ETF's BINARY_EXT value after the key), so every other byte of READY stays as
upstream wrote it, atoms included; the splice is checked by decoding it, and if the key
is not found exactly once the payload is re-encoded instead (orjson; ETF as the gateway
writes it, `EtfStyle.SERVER`).

Failures upstream:
- A message that inflates but does not decode is still delivered (its inflated bytes,
  re-compressed) and reported: a PacketEvent with `payload` None and `error` the
  DecodeError, located at upstream's frame number on this connection and the byte
  offset in the inflated message.
- A frame that breaks the inflate context cannot be delivered, nor can anything after
  it: `from_upstream` raises RelayBroken (after reporting the error as a PacketEvent).
  The server closes the bot's connection with `RelayBroken.code` (4000, so the bot
  resumes: 4000 keeps the session) and the upstream connection with the same 4000, so
  the upstream session stays resumable for the bot's RESUME. Every later call of
  `from_upstream` raises it again.

Bot -> upstream. Discord's clients never compress what they send, so each frame is one
whole payload (JSON text or ETF binary). `from_bot` returns `[frame]` unchanged and
reads it: IDENTIFY (shard, to label the connection), RESUME (session_id), heartbeats
(ping is the time from the bot's op 1 to upstream's op 11). The token goes upstream as
it came; events carry the payload and frame redacted (protocol/payloads.py `redact`,
capture/redaction.py `redact_sent_frame`), and a bot frame that does not decode is
never shown: its WireEvent has `data` None (it could hold a token: a recorder writes a
marker for it, never the frame) and its PacketEvent `raw` b"".

Events (RelayEvent) reuse the live client's types, so `tail`'s renderer and the
recorder read them as they read birbctl's own connections (client/websocket.py):
- WireEvent: "open" (data: `url`) before the first frame either way; every frame as the
  bot saw it (RECV: the frame sent to the bot, after re-compression; SEND: the bot's
  frame, redacted); one "close" for whoever closed first (RECV: upstream, SEND: the bot).
- PacketEvent: every message, each way, decoded (RECV: as the bot received it, READY
  rewritten; `wire_size` the bot-side frame, `size` the inflated message, `raw` its
  bytes).
`conn` is the constructor's `conn` (default 0); Direction is seen from the bot, the
client: upstream -> bot is RECV, bot -> upstream is SEND.

Observations for the dashboard, read off the traffic: `status` (CONNECTING until the
bot's IDENTIFY/RESUME, then IDENTIFYING/RESUMING; READY on READY or RESUMED;
RECONNECTING after op 7, op 9 or a close that leaves the bot something to retry;
DISCONNECTED after a fatal upstream close code, or a bot's close with 1000/1001 that
no op 7/op 9 asked for), `seq`, ping (LatencyTracker), dispatches by type, `closes`,
`snapshot()` (its `url` is the `url` given to the constructor or set on the attribute:
the relay never sees the upstream URL). A relay is one connection: counts across a
bot's reconnections (resumes, re-identifies) are the server's to add up.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import orjson

from birbctl.capture.redaction import redact_sent_frame
from birbctl.client.monitor import RATE_WINDOW
from birbctl.client.snapshot import ShardSnapshot
from birbctl.client.websocket import PacketEvent, WireEvent
from birbctl.codec.etf import decode_etf, encode_etf
from birbctl.codec.json import decode_json, json_error
from birbctl.codec.message import decode_message
from birbctl.codec.packets import message_decoder
from birbctl.emulator.frames import corrupt_frame, encode_payload
from birbctl.errors import BirbError, DecodeError, InflateError
from birbctl.options import EtfStyle
from birbctl.protocol.latency import LatencyTracker
from birbctl.protocol.opcodes import (
    CLOSE_TO_RESUME,
    CloseAction,
    client_close_ends_session,
    close_policy,
)
from birbctl.protocol.payloads import redact
from birbctl.protocol.status import GatewayStatus
from birbctl.protocol.wire import ETF_VERSION, Compression, Direction, Encoding
from birbctl.proxy.routes import SessionShards
from birbctl.transport.deflate import LIVE_ZLIB_LEVEL, make_deflater
from birbctl.transport.inflate import DEFAULT_MAX_MESSAGE, make_inflater

__all__ = ["Frame", "GatewayRelay", "RelayBroken", "RelayClose", "RelayEvent"]

#: A websocket message: str is a text frame, bytes a binary frame.
Frame = bytes | str
#: What a relay's listeners get: frames as the bot saw them, and decoded packets.
RelayEvent = PacketEvent | WireEvent

_SEND, _RECV = Direction.SEND, Direction.RECV
_S = GatewayStatus

_RESUME_KEY = b"resume_gateway_url"
_JSON_KEYS = (b'"resume_gateway_url":',)
_ETF_KEYS = (
    bytes((100, 0, len(_RESUME_KEY))) + _RESUME_KEY,  # ATOM_EXT, as Discord writes keys
    bytes((119, len(_RESUME_KEY))) + _RESUME_KEY,  # SMALL_ATOM_UTF8_EXT
    bytes((118, 0, len(_RESUME_KEY))) + _RESUME_KEY,  # ATOM_UTF8_EXT
    bytes((115, len(_RESUME_KEY))) + _RESUME_KEY,  # SMALL_ATOM_EXT
    bytes((109, 0, 0, 0, len(_RESUME_KEY))) + _RESUME_KEY,  # BINARY_EXT
)
#: Dispatches whose `d` the relay reads; every other dispatch is only counted.
_READ_DISPATCHES = frozenset({"READY", "RESUMED", "GUILD_CREATE"})


class RelayBroken(BirbError):
    """Upstream's compression stream broke: nothing more can reach the bot on this
    connection. Close the bot's websocket with `code` and `reason` (4000: the bot
    resumes) and the upstream one with 4000 too, so its session stays resumable."""

    def __init__(self, error: DecodeError) -> None:
        self.error = error
        self.code: int = CLOSE_TO_RESUME
        self.reason = "birbctl proxy: the upstream stream broke; resume"
        super().__init__(f"upstream: {error}")


@dataclass(frozen=True, slots=True)
class RelayClose:
    """Who closed the connection, with which code (None: no close code) and reason."""

    by: Literal["upstream", "bot"]
    code: int | None
    reason: str


class GatewayRelay:
    """One bot connection: upstream's frames re-compressed toward the bot, the bot's
    passed upstream, both read. See the module docstring for the rules."""

    def __init__(
        self,
        *,
        encoding: Encoding,
        compress: Compression,
        resume_url_for: Callable[[str], str],  # must not raise: READY is lost if it does
        clock: Callable[[], float] = time.time,
        url: str = "",
        conn: int = 0,
        max_size: int = DEFAULT_MAX_MESSAGE,
        shards: SessionShards | None = None,
    ) -> None:
        self.encoding = encoding
        self.compress = compress
        #: The upstream gateway URL, for snapshots and the "open" event; the relay cannot
        #: know it, so the server passes it or sets it before the first frame.
        self.url = url
        self.conn = conn
        self._resume_url_for = resume_url_for
        self._shards = shards
        self._clock = clock
        self._inflate = make_inflater(compress, max_size=max_size).feed
        # The live level (transport/deflate.py): the proxy's budget is 0.5 ms a dispatch.
        deflater = make_deflater(compress, zlib_level=LIVE_ZLIB_LEVEL)
        self._deflate: Callable[[bytes], bytes] | None = (
            None if compress is Compression.NONE else deflater.frame
        )
        self._decode = message_decoder(encoding)
        self._listeners: list[Callable[[RelayEvent], None]] = []
        self._opened = False
        self._broken: DecodeError | None = None

        self.started = clock()
        self.status = _S.CONNECTING
        #: From the bot's IDENTIFY, or from `shards` on a RESUME (the session's shard).
        self.shard: tuple[int, int] | None = None
        self.session_id: str | None = None
        self.seq: int | None = None
        #: READY's real resume_gateway_url, as upstream sent it (never given to the bot).
        self.real_resume_url: str | None = None
        self.latency = LatencyTracker()
        self.last_ack_at: float | None = None
        self._beat_at: float | None = None
        self.dispatches: dict[str, int] = {}  # by `t`
        self._rate: deque[list[int]] = deque()  # [second, dispatches in it]
        self.identifies = 0  # op 2 sent by the bot
        self.resumed = 0  # RESUMED received
        self._guilds_expected = 0
        self._guilds_pending: set[str | int] = set()
        self.upstream_frames = 0
        self.bot_frames = 0
        # For --metrics: bytes each way, heartbeats and their ACKs, RESUMEs, decode
        # errors; `on_rtt(relay, ms)` hears every round trip (the histogram's).
        self.wire_bytes = 0  # upstream's frames, as they came
        self.inflated_bytes = 0  # upstream's messages, inflated
        self.bot_bytes = 0  # the bot's frames
        self.heartbeats = 0
        self.acks = 0
        self.resume_attempts = 0
        self.decode_errors = 0
        self.on_rtt: Callable[[GatewayRelay, float], None] | None = None
        #: Every close reported, in order; the first says who ended the connection.
        self.closes: list[RelayClose] = []
        #: The op (and `t`) of the message `from_upstream` or `from_bot` last read, for
        #: the fault steps that fire on it (proxy/faults.py); None: it did not decode.
        self.last_upstream_op: int | None = None
        self.last_t: str | None = None
        self.last_bot_op: int | None = None
        # Faults on the way to the bot (`swallow_acks`, `delay_acks`, `stall`): upstream's
        # messages wait here, compressed only when they go, so the stream stays in order.
        self.zombie = False
        self.ack_delay = 0.0
        self.stall_until = 0.0
        self.acks_swallowed = 0
        self._holding = False
        self._held: list[tuple[float, int, Frame, bytes | str, Any]] = []
        self._held_count = 0

    # --- the interface the server drives ---------------------------------------------

    @property
    def events(self) -> int:
        """Dispatches received, of every type."""
        return sum(self.dispatches.values())

    def add_listener(self, listener: Callable[[RelayEvent], None]) -> None:
        self._listeners.append(listener)

    def from_upstream(self, frame: Frame) -> list[Frame]:
        """Frames to send the bot, in order (usually one; none while a message is
        incomplete). Raises RelayBroken when the inflate context broke."""
        if self._broken is not None:
            raise RelayBroken(self._broken)
        now = self._clock()
        self.upstream_frames += 1
        self.last_upstream_op = self.last_t = None
        self.wire_bytes += len(frame)
        if type(frame) is str:  # text frames only come uncompressed: JSON, delivered as is
            message: bytes | str = frame
        else:
            try:
                inflated = self._inflate(frame)  # type: ignore[arg-type]
            except InflateError as exc:
                self._break(exc, frame, now)
            if inflated is None:
                return []
            message = inflated
        self.inflated_bytes += len(message)
        try:
            payload = self._decode(message) if type(message) is bytes else decode_json(message)
        except DecodeError as exc:
            return self._undecodable(frame, message, exc, now)
        except orjson.JSONDecodeError as exc:
            return self._undecodable(frame, message, json_error(exc, message), now)

        op: Any = None
        if type(payload) is dict:
            op = payload.get("op")
            if op == 0:
                s = payload.get("s")
                if type(s) is int:
                    self.seq = s
                t = payload.get("t")
                if type(t) is not str:
                    t = "?"  # a hostile `t` (a list) must not reach a dict key
                self.last_t = t
                counts = self.dispatches
                counts[t] = counts.get(t, 0) + 1
                self._count(now)
                if t in _READ_DISPATCHES:
                    rewritten = self._dispatch(t, payload, message)
                    if rewritten is not None:
                        message, payload = rewritten
                        frame = message  # for NONE: the same frame type, new bytes
            elif op == 11:
                self.last_ack_at = now
                self.acks += 1
                if self._beat_at is not None:
                    rtt = max(0.0, (now - self._beat_at) * 1000.0)
                    self.latency.record(rtt)
                    self._beat_at = None
                    if self.on_rtt is not None:
                        self.on_rtt(self, rtt)
            elif op == 7 or op == 9:
                self._set_status(_S.RECONNECTING)
        self.last_upstream_op = op if type(op) is int else None
        if self._holding:
            return self._hold(op, frame, message, payload, now)
        return [self._to_bot(frame, message, payload, now)]

    def from_bot(self, frame: Frame) -> list[Frame]:
        """Frames to send upstream: the bot's frame itself, unchanged."""
        now = self._clock()
        self.bot_frames += 1
        self.bot_bytes += len(frame)
        self.last_bot_op = None
        error: DecodeError | None = None
        payload: Any = None
        try:
            payload = decode_message(frame)
        except DecodeError as exc:
            error = exc.located(frame=self.bot_frames)
        holds_token = False
        if type(payload) is dict:
            op = payload.get("op")
            d = payload.get("d")
            holds_token = type(d) is dict and "token" in d
            self.last_bot_op = op if type(op) is int else None
            if op == 1:
                self._beat_at = now
                self.heartbeats += 1
            elif op == 2:
                self.identifies += 1
                if type(d) is dict:
                    # No `shard` is Discord's unsharded bot: shard 0 of 1 (discord.py's
                    # Client sends none).
                    shard = d.get("shard")
                    self.shard = (0, 1) if shard is None else _shard_of(shard) or self.shard
                self._set_status(_S.IDENTIFYING)
            elif op == 6:
                self.resume_attempts += 1
                if type(d) is dict and isinstance(d.get("session_id"), str):
                    self.session_id = d["session_id"]
                    if self.shard is None and self._shards is not None:
                        self.shard = self._shards.lookup(d["session_id"])
                self._set_status(_S.RESUMING)
        if self._listeners:
            self._emit_send(frame, payload, error, holds_token, now)
        return [frame]

    # --- faults the proxy injects (proxy/faults.py and proxy/link.py decide when) -------

    def inject(self, op: int, d: Any) -> list[Frame]:
        """A payload of the proxy's own toward the bot (op 7, op 9, op 1), encoded and
        compressed as upstream's are, so the bot cannot tell it from the gateway's."""
        raw = encode_payload(op, d, self.encoding)
        text = self._deflate is None and self.encoding is Encoding.JSON
        message: bytes | str = raw.decode() if text else raw
        if op == 7 or op == 9:
            self._set_status(_S.RECONNECTING)
        payload = {"op": op, "d": d, "s": None, "t": None}
        return [self._to_bot(message, message, payload, self._clock())]

    def corrupt(self, junk: bytes) -> list[Frame]:
        """A frame the bot's decoder must reject (broken compressed data, or neither JSON
        nor ETF). Not reported to listeners: it is no payload, and a recording that held
        it could not decode what the connection sent before it broke."""
        return [corrupt_frame(self.encoding, self.compress, junk)]

    def swallow_acks(self) -> None:
        """Swallow upstream's heartbeat ACKs from now on: a zombie connection, as the bot
        sees it. The ping shown stays upstream's own."""
        self.zombie = True
        self._holding = True

    def delay_acks(self, ms: int) -> None:
        """Deliver each of upstream's heartbeat ACKs `ms` late (0: on time again)."""
        self.ack_delay = ms / 1000
        self._holding = True

    def stall(self, seconds: float) -> None:
        """Hold everything upstream sends for `seconds`, then deliver it in order."""
        self.stall_until = max(self.stall_until, self._clock() + seconds)
        self._holding = True

    def release(self, now: float | None = None) -> list[Frame]:
        """The held messages now due, in the order they go to the bot."""
        now = self._clock() if now is None else now
        held = self._held
        out: list[Frame] = []
        while held and held[0][0] <= now:
            _, _, frame, message, payload = heapq.heappop(held)
            out.append(self._to_bot(frame, message, payload, now))
        return out

    def discard_held(self) -> int:
        """Forget the held messages (the proxy detached from upstream: the bot never gets
        them, and a RESUME gets them replayed); how many there were."""
        count = len(self._held)
        self._held.clear()
        return count

    @property
    def next_release(self) -> float | None:
        """When the first held message is due (clock time), if one is held."""
        return self._held[0][0] if self._held else None

    def upstream_closed(self, code: int | None, reason: str) -> None:
        """Upstream closed (or the connection to it was lost: code None)."""
        ends = close_policy(code) is CloseAction.FATAL
        self._closed(RelayClose("upstream", code, reason), _RECV, ends)

    def bot_closed(self, code: int | None, reason: str) -> None:
        """The bot closed (or its connection was lost: code None)."""
        ends = client_close_ends_session(code) and self.status is not _S.RECONNECTING
        self._closed(RelayClose("bot", code, reason), _SEND, ends)

    def snapshot(self) -> ShardSnapshot:
        """This connection as the dashboard and `birbctl status` show a shard."""
        now = self._clock()
        stats = self.latency.stats()
        return ShardSnapshot(
            shard=self.shard if self.shard is not None else (0, 1),
            status=str(self.status.value),
            session_id=self.session_id,
            seq=self.seq,
            ping=stats.last,
            ping_avg=stats.avg,
            last_ack_age=None if self.last_ack_at is None else now - self.last_ack_at,
            uptime=now - self.started,
            connections=1,
            resumes=self.resumed,
            reidentifies=max(0, self.identifies - 1),
            events=self.events,
            events_per_s=self.events_per_second(now),
            guilds_ready=self._guilds_expected - len(self._guilds_pending),
            guilds_expected=self._guilds_expected,
            url=self.url,
            encoding=str(self.encoding),
            compress=self.compress.query_value,
        )

    # --- what the interface reads ----------------------------------------------------

    @property
    def closed(self) -> RelayClose | None:
        """The close that ended the connection (the first reported), if any."""
        return self.closes[0] if self.closes else None

    @property
    def broken(self) -> DecodeError | None:
        """The inflate error that broke upstream's stream, if it broke."""
        return self._broken

    def events_per_second(self, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        since = now - RATE_WINDOW
        count = sum(n for second, n in self._rate if second + 1 > since)
        return count / min(RATE_WINDOW, max(now - self.started, 1e-9))

    # --- the work --------------------------------------------------------------------

    def _count(self, now: float) -> None:
        second = int(now)
        rate = self._rate
        if rate and rate[-1][0] == second:
            rate[-1][1] += 1
            return
        rate.append([second, 1])
        while rate[0][0] + 1 < now - RATE_WINDOW:
            rate.popleft()

    def _dispatch(
        self, t: Any, payload: dict[str, Any], message: bytes | str
    ) -> tuple[bytes | str, dict[str, Any]] | None:
        """READY, RESUMED and GUILD_CREATE: status, session, guilds; READY rewritten."""
        d = payload.get("d")
        if t == "RESUMED":
            self.resumed += 1
            self._set_status(_S.READY)
            return None
        if t == "GUILD_CREATE":
            if type(d) is dict and self._guilds_pending and _is_id(d.get("id")):
                self._guilds_pending.discard(d["id"])
            return None
        self._set_status(_S.READY)
        if type(d) is not dict:
            return None
        if isinstance(d.get("session_id"), str):
            self.session_id = d["session_id"]
            if self.shard is not None and self._shards is not None:
                self._shards.remember(d["session_id"], self.shard)
        guilds = d.get("guilds")
        if type(guilds) is list:
            self._guilds_expected = len(guilds)
            self._guilds_pending = {
                g["id"]
                for g in guilds
                if type(g) is dict and g.get("unavailable") is True and _is_id(g.get("id"))
            }
        real = d.get("resume_gateway_url")
        if not isinstance(real, str):
            return None
        self.real_resume_url = real
        url = self._resume_url_for(real)
        if url == real:
            return None
        wanted = {**payload, "d": {**d, "resume_gateway_url": url}}
        return _rewrite_resume_url(message, real, url, wanted), wanted

    def _set_status(self, status: GatewayStatus) -> None:
        if not self.closes:
            self.status = status

    def _closed(self, close: RelayClose, direction: Direction, ends: bool) -> None:
        first = not self.closes
        self.closes.append(close)
        if not first:
            return
        self.status = _S.DISCONNECTED if ends else _S.RECONNECTING
        if self._listeners:
            self._open(self._clock())
            event = WireEvent(
                self.conn, direction, "close", close.reason, close.code, ts=self._clock()
            )
            self._emit(event)

    def _break(self, error: InflateError, frame: bytes | str, now: float) -> NoReturn:
        """Report the frame that broke the inflate context, then raise RelayBroken."""
        error.located(frame=self.upstream_frames)
        self.decode_errors += 1
        self._broken = error
        self._set_status(_S.RECONNECTING)
        if self._listeners:
            self._open(now)
            self._emit(PacketEvent(self.conn, _RECV, None, len(frame), 0, now, b"", error))
        raise RelayBroken(error)

    def _to_bot(self, frame: Frame, message: bytes | str, payload: Any, now: float) -> Frame:
        """The frame that carries `message` to the bot (compressed in the bot's stream
        now, so frames go out in the order they are made), reported to listeners."""
        deflate = self._deflate
        if deflate is None or type(message) is str:
            out: Frame = frame
        else:
            out = deflate(message)  # type: ignore[arg-type]
        if self._listeners:
            self._emit_recv(out, message, payload, None, now)
        return out

    def _hold(
        self, op: Any, frame: Frame, message: bytes | str, payload: Any, now: float
    ) -> list[Frame]:
        """Upstream's message while ACKs are held or the stream stalls: due now, later
        or never. Held messages keep their order; a delayed ACK lets later ones pass."""
        due = now
        if op == 11:
            if self.zombie:
                self.acks_swallowed += 1
                return self.release(now)
            due += self.ack_delay
        if now < self.stall_until:
            due = max(due, self.stall_until)
        out = self.release(now)
        if due <= now and not self._held:
            out.append(self._to_bot(frame, message, payload, now))
        else:
            self._held_count += 1
            heapq.heappush(self._held, (due, self._held_count, frame, message, payload))
            out += self.release(now)
        return out

    def _undecodable(
        self, frame: Frame, message: bytes | str, error: DecodeError, now: float
    ) -> list[Frame]:
        """Deliver a message that does not decode anyway, and report where it failed."""
        error.located(frame=self.upstream_frames)
        self.decode_errors += 1
        deflate = self._deflate
        out: Frame = frame if deflate is None or type(message) is str else deflate(message)  # type: ignore[arg-type]
        if self._listeners:
            self._emit_recv(out, message, None, error, now)
        return [out]

    def _emit_recv(
        self, out: Frame, message: bytes | str, payload: Any, error: DecodeError | None, now: float
    ) -> None:
        self._open(now)
        kind: Literal["text", "binary"] = "text" if type(out) is str else "binary"
        self._emit(WireEvent(self.conn, _RECV, kind, out, ts=now))
        size = len(message)
        self._emit(PacketEvent(self.conn, _RECV, payload, len(out), size, now, message, error))

    def _emit_send(
        self, frame: Frame, payload: Any, error: DecodeError | None, holds: bool, now: float
    ) -> None:
        self._open(now)
        kind: Literal["text", "binary"] = "text" if type(frame) is str else "binary"
        shown: Frame | None = frame
        if error is not None:
            shown = None  # could hold a token: never shown
        elif holds:
            shown = redact_sent_frame(frame)
            payload = redact(payload)
        self._emit(WireEvent(self.conn, _SEND, kind, shown, ts=now))
        raw: Frame = b"" if shown is None else shown
        size = len(frame)
        self._emit(PacketEvent(self.conn, _SEND, payload, size, size, now, raw, error))

    def _open(self, now: float) -> None:
        if not self._opened:
            self._opened = True
            self._emit(WireEvent(self.conn, _SEND, "open", self.url, ts=now))

    def _emit(self, event: RelayEvent) -> None:
        for listener in self._listeners:
            listener(event)


def _is_id(value: Any) -> bool:
    """A guild id as JSON (str) or ETF (int) carries it; anything else (a hostile list)
    is not hashable, or not an id."""
    return type(value) is str or type(value) is int


def _shard_of(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's `shard` as (id, count), or None when it is not two whole numbers."""
    if type(value) is list and len(value) == 2 and all(type(v) is int for v in value):
        return (value[0], value[1])
    return None


def _rewrite_resume_url(
    message: bytes | str, real: str, url: str, wanted: dict[str, Any]
) -> bytes | str:
    """READY's message with `url` for `real`: spliced into upstream's own bytes when the
    key and value are found exactly once and the result decodes to `wanted`; re-encoded
    otherwise. A str message (a text frame) stays str."""
    data = message.encode() if type(message) is str else message
    assert isinstance(data, bytes)
    if data[:1] == bytes((ETF_VERSION,)):
        from birbctl.codec.etf import decode_gateway_etf

        new = _splice(data, _ETF_KEYS, _etf_binary(real), _etf_binary(url))
        if new is None or decode_gateway_etf(new) != wanted:
            payload = decode_etf(data)  # integers stay integers: the faithful re-encode
            payload["d"] = {**payload["d"], "resume_gateway_url": url}
            new = encode_etf(payload, style=EtfStyle.SERVER)
    else:
        new = _splice(data, _JSON_KEYS, orjson.dumps(real), orjson.dumps(url))
        if new is None or orjson.loads(new) != wanted:
            new = orjson.dumps(wanted)
    return new.decode() if type(message) is str else new


def _etf_binary(text: str) -> bytes:
    raw = text.encode()
    return b"m" + len(raw).to_bytes(4, "big") + raw


def _splice(data: bytes, keys: tuple[bytes, ...], old: bytes, new: bytes) -> bytes | None:
    """`data` with key+old replaced by key+new, if exactly one key+old is in it."""
    for key in keys:
        pattern = key + old
        at = data.find(pattern)
        if at < 0:
            continue
        if data.find(pattern, at + 1) >= 0:
            return None
        return data[:at] + key + new + data[at + len(pattern) :]
    return None
