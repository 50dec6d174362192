"""One gateway connection as Discord runs it, sans-I/O: fed client messages and a clock,
it queues the frames, closes and drops to perform (`actions()`), and says when it next
needs the clock (`next_deadline()`). The server does the sockets; tests need none.

Rules (API docs, "Gateway" and "Opcodes and Status Codes"): HELLO first; heartbeats
ACKed; IDENTIFY validated (4002, 4003, 4004, 4005, 4010, 4011, 4012, 4013, 4014);
READY then one GUILD_CREATE per guild of the shard; RESUME replays missed dispatches
then RESUMED (op 9 false for an unknown session, 4007 bad seq, 4009 timed out); more
than 120 payloads in 60 s closes with 4008; payloads over 4096 bytes with 4002.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from birbctl.codec.json import decode_json
from birbctl.emulator.auth import TokenPolicy, strip_bot_prefix
from birbctl.emulator.chaos import (
    RECORDS_KEPT,
    Chaos,
    HandshakeSteps,
    IdentifyTracker,
    InjectedFault,
)
from birbctl.emulator.client_etf import has_atom_keys
from birbctl.emulator.config import EmulatorConfig
from birbctl.emulator.faults import Fault
from birbctl.emulator.frames import PreparedDispatch, corrupt_frame, encode_payload
from birbctl.emulator.recording import Recording
from birbctl.emulator.replay import ReplayScheduler
from birbctl.emulator.sessions import SessionRecord, SessionRecords
from birbctl.emulator.world import World, bot_id_from_token, bot_user
from birbctl.errors import DecodeError
from birbctl.protocol.intents import ALL_INTENTS, PRIVILEGED_INTENTS
from birbctl.protocol.opcodes import CloseCode, Opcode, client_close_ends_session, ends_session
from birbctl.protocol.wire import Compression, Encoding
from birbctl.transport.deflate import LIVE_ZLIB_LEVEL, Deflater, make_deflater

log = logging.getLogger("birbctl.emulator")

MAX_PAYLOAD = 4096
RECEIVE_LIMIT = 120
RECEIVE_WINDOW = 60.0
SUPPORTED_VERSIONS = range(6, 11)
DEFAULT_VERSION = 10
#: GATEWAY_PRESENCE_LIMITED | GATEWAY_GUILD_MEMBERS_LIMITED | GATEWAY_MESSAGE_CONTENT_LIMITED:
#: the privileged intents enabled in the portal, as an unverified bot has them.
APP_FLAGS_PRIVILEGED = (1 << 13) | (1 << 15) | (1 << 19)
RTC_REGIONS = ["us-east", "us-central", "atlanta", "us-south", "us-west"]
_TRACE = '["gateway-prd-emu-1",{"micros":0,"calls":["birbctl-emulator"]}]'

_CLIENT_OPS_AFTER_IDENTIFY = frozenset(
    {
        Opcode.PRESENCE_UPDATE,
        Opcode.VOICE_STATE_UPDATE,
        Opcode.REQUEST_GUILD_MEMBERS,
        Opcode.REQUEST_SOUNDBOARD_SOUNDS,
        Opcode.REQUEST_CHANNEL_INFO,
    }
)

_connection_ids = itertools.count(1)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_client_json(raw: bytes) -> Any:
    """JSON from a client. orjson refuses a number past a double (`1` and 400 zeros) that
    JSON allows; such a payload is re-read by Python's parser, which keeps integers exact
    (so an op or seq that large gets 4001 or 4007, not 4002). NaN/Infinity stay errors."""
    try:
        return decode_json(raw)
    except DecodeError as exc:
        if "infinity" not in str(exc):
            raise
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise DecodeError(f"invalid JSON: {exc}") from None


# The server's actions. protocol/events.py has a client's CloseConnection and
# DropConnection of the same shape, kept apart on purpose: each is the vocabulary of one
# sans-I/O machine (the session expects a call back after its own, this side nothing).


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Send one websocket frame: text (JSON, uncompressed) or binary."""

    data: bytes
    text: bool


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Send a close frame with this code and reason, then close."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class DropConnection:
    """Close the TCP connection without a close frame."""


Action = SendFrame | CloseConnection | DropConnection


@dataclass(frozen=True, slots=True)
class ConnectParams:
    """A connection's query. `encoding` is the word as sent: an unknown one (like a bad
    `v`, None here) is answered after the upgrade, with 4002, as the gateway does."""

    version: int | None
    encoding: str
    compress: Compression


class BadQuery(ValueError):
    """A query string the handshake itself refuses (HTTP 400)."""


def parse_connect_query(path: str) -> ConnectParams:
    """`?v=10&encoding=json&compress=zlib-stream` from the request path (any path).

    A missing `v` means v10 (lenient, for hand-typed URLs); a bad one is kept and
    answered with 4012 after the upgrade, as the gateway does. An unknown `compress`
    cannot be negotiated, so it is refused with HTTP 400.
    """
    try:
        query = parse_qs(urlsplit(path).query)
    except ValueError:  # e.g. "//[": urlsplit takes it for a bad IPv6 host
        raise BadQuery(f"request path {path[:80]!r} is not a valid URL path") from None

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    raw_v = one("v")
    version: int | None
    if raw_v is None:
        version = DEFAULT_VERSION
    else:
        try:
            version = int(raw_v)
        except ValueError:
            version = None
    encoding = one("encoding") or Encoding.JSON.value
    word = one("compress") or None
    try:
        compress = Compression.from_query(word)
    except ValueError:
        words = " or ".join(c.value for c in Compression if c.query_value is not None)
        raise BadQuery(f"compress must be {words}, got {word!r}") from None
    return ConnectParams(version, encoding, compress)


def _encoding_of(word: str) -> Encoding | None:
    try:
        return Encoding(word)
    except ValueError:
        return None


class GatewayContext:
    """What every connection of one emulator shares."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        world: World | None = None,
        records: SessionRecords | None = None,
        resume_url: str = "ws://127.0.0.1",
        rng: random.Random | None = None,
        on_event: Callable[[str], None] | None = None,
        recording: Recording | None = None,
    ) -> None:
        self.config = config
        self.world = world or World(config.guilds, seed=config.seed)
        self.records = records or SessionRecords(
            expiry_s=config.session_expiry_s,
            start_total=config.session_start_total,
            max_concurrency=config.max_concurrency,
        )
        self.tokens = TokenPolicy(config.tokens)
        self.resume_url = resume_url
        self.rng = rng or random.Random(config.seed)
        self.on_event = on_event
        #: `at`/`after_events` steps, run per session.
        self.session_steps = tuple(s for s in config.steps if s.on is None)
        #: `on` steps, counted server-wide; their `probability` draws from their own
        #: seeded RNG, so corrupt frames or traffic do not shift them.
        self.handshake = HandshakeSteps(
            tuple(s for s in config.steps if s.on is not None),
            random.Random(None if config.seed is None else f"faults/{config.seed}"),
        )
        self.chaos = None if config.chaos is None else Chaos(config.chaos)
        #: Every fault injected (steps, chaos, admin), the newest RECORDS_KEPT.
        self.injected: deque[InjectedFault] = deque(maxlen=RECORDS_KEPT)
        self.injected_count = 0
        #: IDENTIFY arrivals per bucket, against the answer GET /gateway/bot gives.
        self.identifies = IdentifyTracker(self.records.max_concurrency)
        #: Live connections, for the admin endpoint.
        self.connections: dict[int, GatewayConnection] = {}
        #: With --replay, what feeds every session instead of synthetic traffic.
        self.replay: ReplayScheduler | None = None
        if recording is not None:
            self.replay = ReplayScheduler(
                recording,
                self.records,
                speed=config.replay_speed,
                loop=config.replay_loop,
                note=self.note,
            )

    def note(self, text: str) -> None:
        """A line for the operator (never includes a token)."""
        log.info(text)
        if self.on_event is not None:
            self.on_event(text)

    def record_fault(self, record: InjectedFault) -> None:
        self.injected.append(record)
        self.injected_count += 1

    def run_chaos(self, now: float) -> float | None:
        """Hand out the chaos draws due by `now`; returns when the next one is due (None
        without chaos). "live" strikes a random READY session now; "hello" a connection
        waiting between HELLO and IDENTIFY/RESUME if there is one; the other points (and
        "hello" with nobody waiting) strike the next connection to reach them within the
        config's `window`."""
        chaos = self.chaos
        if chaos is None:
            return None
        for trigger, fault in chaos.due(now):
            if trigger in ("live", "hello"):
                candidates = [
                    c
                    for c in self.connections.values()
                    if (c.live if trigger == "live" else c.waiting_for_identify)
                ]
                if candidates:
                    conn = chaos.rng.choice(candidates)
                    conn.inject(fault, now, trigger=trigger, source="chaos")
                    if conn.wake is not None:
                        conn.wake()
                    continue
                if trigger == "live":
                    chaos.skipped += 1
                    continue
            chaos.arm(trigger, fault, now)
        return chaos.next_at


class GatewayConnection:
    """The gateway's side of one websocket connection."""

    def __init__(
        self,
        ctx: GatewayContext,
        params: ConnectParams,
        now: float,
        *,
        peer_port: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.id = next(_connection_ids)
        #: The client's port, so records of faults before IDENTIFY say which client it was.
        self.peer_port = peer_port
        self.version = params.version or DEFAULT_VERSION
        encoding = _encoding_of(params.encoding)
        self.encoding = Encoding.JSON if encoding is None else encoding
        self.compress = params.compress
        self._deflater: Deflater = make_deflater(params.compress, zlib_level=LIVE_ZLIB_LEVEL)
        # Looked up once: _emit runs for every dispatch of every session.
        self._frame = None if self.compress is Compression.NONE else self._deflater.frame
        self._text = self.encoding is Encoding.JSON
        self._interval = ctx.config.heartbeat_interval_ms / 1000
        self.record: SessionRecord | None = None
        self.closed = False
        self.close_code: int | None = None
        self.zombie = False
        self.ack_delay = 0.0
        self.stall_until = 0.0
        self._stalled = False
        self._out: list[Action] = []
        self._acks_due: deque[float] = deque()
        self._last_beat = now
        self._received: deque[float] = deque()
        self._steps_due = False
        #: When HELLO was queued; the first IDENTIFY or RESUME ends the "hello" window.
        self._hello_at: float | None = None
        self._identify_seen = False
        #: Delayed `on = hello` steps already decided for this connection (by id).
        self._hello_checked: set[int] = set()
        #: Called when dispatches are queued from outside `receive`/`tick` (traffic).
        self.wake: Callable[[], None] | None = None
        ctx.connections[self.id] = self

        if encoding is None:
            self._close(CloseCode.DECODE_ERROR, f"invalid encoding {params.encoding!r}")
        elif params.version is None or params.version not in SUPPORTED_VERSIONS:
            self._close(CloseCode.INVALID_API_VERSION, "Invalid API version")
        else:
            self._handshake_faults("connect", now, None)
            if self.closed:
                return  # dropped or closed before HELLO
            self._send_op(
                Opcode.HELLO, {"heartbeat_interval": ctx.config.heartbeat_interval_ms,
                               "_trace": [_TRACE]}
            )  # fmt: skip
            self._hello_at = now
            self._handshake_faults("hello", now, None)

    # --- the sans-I/O surface ------------------------------------------------------------

    def actions(self) -> list[Action]:
        """What to do now, in order. Nothing while stalled (it is kept for later)."""
        if self._stalled or not self._out:
            return []
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        """When `tick()` next has work (monotonic seconds), or None."""
        if self.closed:
            return None
        deadlines = [self._last_beat + self._interval * self.ctx.config.heartbeat_grace]
        if self._acks_due:
            deadlines.append(self._acks_due[0])
        if self._stalled:
            deadlines.append(self.stall_until)
        hello_at = self._hello_at
        if hello_at is not None and not self._identify_seen:
            for armed in self.ctx.handshake.delayed_hello():
                if armed.id not in self._hello_checked:
                    deadlines.append(hello_at + armed.step.delay)
        record = self.record
        if record is not None:
            for index, step in enumerate(record.steps):
                if step.at is not None and index not in record.fired:
                    deadlines.append(record.created_at + step.at)
        return min(deadlines)

    def tick(self, now: float) -> None:
        """Let time pass: delayed ACKs, stall ends, scheduled faults, heartbeat timeout."""
        if self.closed:
            return
        self._stalled = now < self.stall_until
        while self._acks_due and self._acks_due[0] <= now:
            self._acks_due.popleft()
            self._send_op(Opcode.HEARTBEAT_ACK, None)
        if self._hello_at is not None and not self._identify_seen:
            self._run_delayed_hello(now)
        self._run_steps(now)
        if self.closed:
            return
        if now - self._last_beat > self._interval * self.ctx.config.heartbeat_grace:
            self._close(CloseCode.UNKNOWN_ERROR, "heartbeat timeout")

    def receive(self, data: bytes | str, now: float) -> None:
        """One websocket message from the client."""
        if self.closed:
            return
        received = self._received
        received.append(now)
        while received and received[0] <= now - RECEIVE_WINDOW:
            received.popleft()
        if len(received) > RECEIVE_LIMIT:
            self._close(CloseCode.RATE_LIMITED, "You are being rate limited.")
            return
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > MAX_PAYLOAD:
            self._close(CloseCode.DECODE_ERROR, "Payload too large.")
            return
        try:
            payload = self._decode(raw)
        except DecodeError:
            self._close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
            return
        op = payload.get("op") if isinstance(payload, dict) else None
        if type(op) is float:
            # A number, just not an opcode (2.5, or an integer past 64 bits that the JSON
            # decoder could only give as a float): 4001, as for any other unknown number.
            self._close(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")
            return
        if type(op) is not int:
            self._close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
            return
        d = payload.get("d")
        if op == Opcode.HEARTBEAT:
            self._on_heartbeat(now)
        elif op == Opcode.IDENTIFY:
            self._identify_seen = True
            shard = self._record_identify(d, now)
            if not self._handshake_faults("identify", now, shard):
                self._on_identify(d, now)
        elif op == Opcode.RESUME:
            self._identify_seen = True
            if not self._handshake_faults("resume", now, self._resumed_shard(d)):
                self._on_resume(d, now)
        elif op in _CLIENT_OPS_AFTER_IDENTIFY:
            if self.record is None:
                self._close(CloseCode.NOT_AUTHENTICATED, "Not authenticated.")
            elif op == Opcode.REQUEST_GUILD_MEMBERS:
                self._on_request_members(d)
        else:
            self._close(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")

    def deliver(self, event: PreparedDispatch, seq: int) -> None:
        """A dispatch of this connection's session (called by `SessionRecord.dispatch`)."""
        if self.closed:
            return
        self._emit(event.message(self.encoding, seq))
        record = self.record
        if event.synthetic and record is not None and record.steps:
            self._steps_due = True
        wake = self.wake
        if wake is not None:
            wake()

    def connection_lost(self, client_code: int | None, now: float) -> None:
        """The socket is gone. `client_code` is the close code the client sent, if it
        closed first: its close policy says whether that ends the session."""
        was_closed = self.closed
        self.closed = True
        self.ctx.connections.pop(self.id, None)
        record = self.record
        if record is None or record.connection is not self:
            return
        if not was_closed and client_close_ends_session(client_code):
            self.ctx.records.invalidate(record)
            self.ctx.note(f"session {record.id[:8]} ended by the client ({client_code})")
        record.detach(self, now)

    def inject(
        self,
        fault: Fault,
        now: float,
        *,
        trigger: str = "admin",
        source: str = "admin",
        shard: tuple[int, int] | None = None,
    ) -> None:
        """Misbehave on purpose; recorded in `ctx.injected` and logged."""
        if self.closed:
            return
        record = self.record
        if shard is None and record is not None:
            shard = record.shard
        who = f"conn {self.id}" + (f" session {record.id[:8]}" if record else "")
        if shard is not None:
            who += f" shard [{shard[0]}, {shard[1]}]"
        self.ctx.note(f"fault {fault.describe()} -> {who} ({source}, {trigger})")
        self.ctx.record_fault(
            InjectedFault(
                now,
                self.id,
                None if record is None else record.id,
                shard,
                trigger,
                source,
                fault,
                self.peer_port,
            )
        )
        action = fault.action
        if action == "reconnect":
            self._send_op(Opcode.RECONNECT, None)
        elif action == "invalid_session":
            self._send_op(Opcode.INVALID_SESSION, fault.resumable)
            record = self.record
            if record is not None:
                if not fault.resumable:
                    self.ctx.records.invalidate(record)
                record.detach(self, now)
                self.record = None
        elif action == "close":
            self._close(fault.code, fault.reason)
        elif action == "drop":
            self._out.append(DropConnection())
            self.closed = True
        elif action == "zombie":
            self.zombie = True
        elif action == "ack_delay":
            self.ack_delay = fault.ms / 1000
        elif action == "request_heartbeat":
            self._send_op(Opcode.HEARTBEAT, None)
        elif action == "corrupt":
            self._out.append(self._corrupt_frame())
        elif action == "stall":
            self.stall_until = now + fault.seconds
            self._stalled = fault.seconds > 0

    @property
    def waiting_for_identify(self) -> bool:
        """HELLO was sent and no IDENTIFY/RESUME has come yet (the "hello" window)."""
        return self._hello_at is not None and not self._identify_seen and not self.closed

    @property
    def live(self) -> bool:
        """A session record is attached (READY or RESUMED was queued)."""
        record = self.record
        return not self.closed and record is not None and record.connection is self

    def describe(self) -> dict[str, Any]:
        record = self.record
        return {
            "connection": self.id,
            "encoding": self.encoding,
            "compress": self.compress.query_value,  # null for none, as it always was
            "session": None if record is None else record.id,
            "shard": None if record is None else list(record.shard),
            "seq": None if record is None else record.seq,
        }

    # --- client ops ----------------------------------------------------------------------

    def _decode(self, raw: bytes) -> Any:
        """Decode in the connection's encoding, whatever the frame type or first byte:
        JSON on an ETF connection (or ETF on a JSON one) is a payload Discord cannot
        decode, 4002. JSON bytes in a binary frame on a JSON connection are still JSON."""
        if self.encoding is Encoding.ETF:
            from birbctl.codec.etf import decode_etf

            if has_atom_keys(raw):
                raise DecodeError("atom map keys from a client")
            return decode_etf(raw)
        return decode_client_json(raw)

    def _on_heartbeat(self, now: float) -> None:
        self._last_beat = now
        if self.zombie:
            return
        if self.ack_delay > 0:
            self._acks_due.append(now + self.ack_delay)
        else:
            self._send_op(Opcode.HEARTBEAT_ACK, None)

    def _on_identify(self, d: Any, now: float) -> None:
        ctx, config = self.ctx, self.ctx.config
        if self.record is not None:
            self._close(CloseCode.ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if not isinstance(d, dict) or not isinstance(d.get("properties", {}), dict):
            self._close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
            return
        token = d.get("token")
        if not ctx.tokens.accepts(token):
            self._close(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
            return
        assert isinstance(token, str)
        intents = d.get("intents")
        if type(intents) is not int or intents < 0 or intents & ~int(ALL_INTENTS):
            self._close(CloseCode.INVALID_INTENTS, "Invalid intent(s).")
            return
        if intents & int(PRIVILEGED_INTENTS) and not config.allow_privileged:
            self._close(CloseCode.DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        shard = d.get("shard", [0, 1])
        if (
            not isinstance(shard, list | tuple)
            or len(shard) != 2
            or not all(type(x) is int for x in shard)
            or not 0 <= shard[0] < shard[1]
        ):
            self._close(CloseCode.INVALID_SHARD, "Invalid shard.")
            return
        shard_id, num_shards = shard
        replay = ctx.replay
        recorded = replay is not None and replay.recording.ready is not None
        # A recorded READY brings its own guilds; the synthetic world is then unused.
        guilds = [] if recorded else ctx.world.guilds_for_shard(shard_id, num_shards)
        guild_count = replay.recording.guild_count if replay is not None and recorded else 0
        if max(len(guilds), guild_count) > config.max_guilds_per_shard:
            self._close(CloseCode.SHARDING_REQUIRED, "Sharding required.")
            return
        large_threshold = d.get("large_threshold", 50)
        if type(large_threshold) is not int or not 50 <= large_threshold <= 250:
            large_threshold = 50
        bare = strip_bot_prefix(token)
        user_id = bot_id_from_token(bare)
        record = SessionRecord(
            ctx.records.new_id(),
            token=bare,
            user_id=user_id,
            shard=(shard_id, num_shards),
            intents=intents,
            now=now,
            steps=ctx.session_steps,
            buffer_size=config.replay_buffer,
            large_threshold=large_threshold,
        )
        ctx.records.add(record, now)
        self.record = record
        record.attach(self)
        user = bot_user(user_id)
        ready: dict[str, Any] = {
            "v": self.version,
            "user": user,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": record.id,
            "resume_gateway_url": ctx.resume_url,
            "application": {
                "id": str(user_id),
                "flags": APP_FLAGS_PRIVILEGED if config.allow_privileged else 0,
            },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": RTC_REGIONS,
            "guild_join_requests": [],
            "user_settings": {},
            "session_type": "normal",
            "auth_session_id_hash": ctx.records.new_id(),
            "_trace": [_TRACE],
        }
        if "shard" in d:
            ready["shard"] = [shard_id, num_shards]
        ctx.note(
            f"conn {self.id}: IDENTIFY -> session {record.id[:8]} shard "
            f"[{shard_id}, {num_shards}] ({self.encoding}, {self._compression_text})"
            + (" replaying" if replay is not None else "")
        )
        if replay is not None:
            ready = replay.ready(
                version=self.version,
                session_id=record.id,
                resume_url=ctx.resume_url,
                shard=[shard_id, num_shards] if "shard" in d else None,
                synthetic=ready,
            )
        record.dispatch(PreparedDispatch("READY", ready))
        for guild in guilds:
            body = ctx.world.guild_create(guild, user, large_threshold=large_threshold)
            record.dispatch(PreparedDispatch("GUILD_CREATE", body))
        if replay is not None:
            replay.start(record, now)

    def _on_resume(self, d: Any, now: float) -> None:
        ctx = self.ctx
        if self.record is not None:
            self._close(CloseCode.ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if not isinstance(d, dict):
            self._close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
            return
        token, session_id, seq = d.get("token"), d.get("session_id"), d.get("seq")
        if not ctx.tokens.accepts(token):
            self._close(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
            return
        assert isinstance(token, str)
        if seq is None:
            seq = 0
        # Any number decodes; one that is not a whole 0..record.seq is an invalid seq (4007)
        # below, however large (JSON integers past 64 bits come as floats or big ints).
        if not isinstance(session_id, str) or type(seq) not in (int, float):
            self._close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
            return
        ctx.records.sweep(now)
        record = ctx.records.get(session_id)
        if record is None and ctx.records.is_expired(session_id):
            self._close(CloseCode.SESSION_TIMED_OUT, "Session timed out.")
            return
        if record is None or record.token != strip_bot_prefix(token):
            ctx.note(f"conn {self.id}: RESUME of an unknown session -> op 9 false")
            self._send_op(Opcode.INVALID_SESSION, False)
            return
        missed = record.missed_since(seq) if type(seq) is int else None
        if missed is None:
            ctx.records.invalidate(record)
            self._close(CloseCode.INVALID_SEQ, "Invalid seq.")
            return
        previous = record.connection
        if isinstance(previous, GatewayConnection) and previous is not self:
            previous.record = None  # the old socket stops getting this session's events
        self.record = record
        record.attach(self)
        ctx.note(
            f"conn {self.id}: RESUME session {record.id[:8]} from seq {seq}, "
            f"replaying {len(missed)}"
        )
        for missed_seq, event in missed:
            self.deliver(event, missed_seq)
        record.dispatch(PreparedDispatch("RESUMED", {"_trace": [_TRACE]}))

    def _on_request_members(self, d: Any) -> None:
        """Answer op 8 with one GUILD_MEMBERS_CHUNK of the guild's members (no presences)."""
        record = self.record
        if record is None or not isinstance(d, dict):
            return
        guild_ids = d.get("guild_id")
        ids = guild_ids if isinstance(guild_ids, list) else [guild_ids]
        for raw in ids:
            text = str(raw) if isinstance(raw, str | int) else ""
            # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
            if not (text.isascii() and text.isdigit() and len(text) <= 20):
                continue
            guild = self.ctx.world.by_id.get(int(text))
            if guild is None:
                continue
            chunk: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": guild.members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if "nonce" in d:
                chunk["nonce"] = d["nonce"]
            record.dispatch(PreparedDispatch("GUILD_MEMBERS_CHUNK", chunk))

    # --- handshake faults ------------------------------------------------------------------

    def _handshake_faults(self, trigger: str, now: float, shard: tuple[int, int] | None) -> bool:
        """Fire the `on = trigger` steps that roll to fire, then a chaos fault waiting for
        this point. True if the client's payload is answered: the connection is closed
        or dropped, or got op 9 (then the IDENTIFY/RESUME is not processed)."""
        ctx = self.ctx
        answered = False
        handshake = ctx.handshake
        for armed in handshake.armed:
            step = armed.step
            if step.on != trigger or step.delay or not armed.roll(handshake.rng):
                continue
            self.inject(step.fault, now, trigger=trigger, source="step", shard=shard)
            answered = answered or step.fault.action == "invalid_session"
            if self.closed:
                return True
        chaos = ctx.chaos
        if chaos is not None and (fault := chaos.take(trigger, now)) is not None:
            self.inject(fault, now, trigger=trigger, source="chaos", shard=shard)
            answered = answered or fault.action == "invalid_session"
        return answered or self.closed

    def _run_delayed_hello(self, now: float) -> None:
        """`on = hello` steps with a `delay`, once it has passed with no IDENTIFY/RESUME."""
        hello_at = self._hello_at
        assert hello_at is not None
        for armed in self.ctx.handshake.hello_waited(hello_at, self._hello_checked, now):
            self.inject(armed.step.fault, now, trigger="hello", source="step")
            if self.closed:
                return

    def _record_identify(self, d: Any, now: float) -> tuple[int, int] | None:
        """Note the IDENTIFY's arrival in its bucket (when its `shard` is valid; absent
        means [0, 1]) and log one that came under 5 s after the previous of its bucket."""
        shard = d.get("shard", [0, 1]) if isinstance(d, dict) else None
        if (
            not isinstance(shard, list | tuple)
            or len(shard) != 2
            or not all(type(x) is int for x in shard)
            or not 0 <= shard[0] < shard[1]
        ):
            return None
        pair = (int(shard[0]), int(shard[1]))
        record = self.ctx.identifies.record(self.id, pair, now)
        if record.too_soon:
            assert record.since_previous is not None
            self.ctx.note(
                f"conn {self.id}: IDENTIFY of shard [{pair[0]}, {pair[1]}] came "
                f"{record.since_previous:.2f} s after the previous one of bucket {record.bucket} "
                "(identify rate limit: one per 5 s per bucket)"
            )
        return pair

    def _resumed_shard(self, d: Any) -> tuple[int, int] | None:
        session_id = d.get("session_id") if isinstance(d, dict) else None
        record = self.ctx.records.get(session_id) if isinstance(session_id, str) else None
        return None if record is None else record.shard

    # --- output --------------------------------------------------------------------------

    def _run_steps(self, now: float) -> None:
        record = self.record
        if record is None or not record.steps or record.connection is not self:
            return
        for index, step in enumerate(record.steps):
            if index in record.fired:
                continue
            due = (step.at is not None and now >= record.created_at + step.at) or (
                step.after_events is not None and record.synthetic_count >= step.after_events
            )
            if due:
                record.fired.add(index)
                self.inject(step.fault, now, trigger=step.trigger, source="step")
                if self.closed or self.record is not record:
                    return
        self._steps_due = False

    @property
    def backlog(self) -> int:
        """Actions queued and not yet taken by the writer (a replay's backpressure)."""
        return len(self._out)

    @property
    def pending(self) -> bool:
        """Actions are queued (maybe held by a stall)."""
        return bool(self._out)

    @property
    def steps_due(self) -> bool:
        """A dispatch may have reached an `after_events` step: call `tick()`."""
        return self._steps_due

    def _emit(self, message: bytes) -> None:
        frame = self._frame
        if frame is None:
            self._out.append(SendFrame(message, self._text))
        else:
            self._out.append(SendFrame(frame(message), False))

    def _send_op(self, op: int, d: Any) -> None:
        self._emit(encode_payload(op, d, self.encoding))

    def _corrupt_frame(self) -> SendFrame:
        junk = bytes(self.ctx.rng.randrange(256) for _ in range(24))
        frame = corrupt_frame(self.encoding, self.compress, junk)
        if isinstance(frame, str):
            return SendFrame(frame.encode(), True)
        return SendFrame(frame, False)

    @property
    def _compression_text(self) -> str:
        return "no compression" if self.compress is Compression.NONE else self.compress.value

    def _close(self, code: int, reason: str) -> None:
        self._out.append(CloseConnection(int(code), reason))
        self.closed = True
        self.close_code = int(code)
        record = self.record
        if record is not None and record.connection is self:
            # The record is dropped exactly where the close policy tells a client not to
            # resume (protocol/opcodes.py); a timed-out one is remembered as such (4009).
            if code == CloseCode.SESSION_TIMED_OUT:
                self.ctx.records.expire(record)
            elif ends_session(code):
                self.ctx.records.invalidate(record)
        self.ctx.note(f"conn {self.id}: closing with {int(code)} {reason}".rstrip())
