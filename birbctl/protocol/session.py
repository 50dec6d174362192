"""One shard's gateway session as a sans-I/O state machine: events in, actions out.

The driver owns the socket, the codec and the timer. It feeds the session what
happened (`connection_opened()`, `receive_payload()`, `connection_closed()`, `tick()`,
user commands), then drains `actions()` and performs the driver actions in order. It
calls `tick()` once the injected clock reaches `next_deadline()`. Nothing here sleeps,
reads the wall clock, or draws randomness it was not given, so every gateway rule is
testable with a fake clock and a seeded RNG.

Where the session stands is one value, `phase` (a `Phase`, see protocol/status.py), and
it is the source of truth: `status` and `is_connected`/`is_connecting`/`is_closed` are
read from it, and `_set_phase` is the one place it changes, checked against the phase
table. The other fields are data the phases use (sequence, session id, the deadline of
the phase in force), never flags that restate it.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from birbctl.codec.json import encode_json
from birbctl.errors import ConfigError, LocalProtocolError
from birbctl.protocol.backoff import Backoff, Jitter
from birbctl.protocol.events import (
    Action,
    CloseConnection,
    DispatchReceived,
    DropConnection,
    FatalClose,
    HeartbeatAcked,
    HeartbeatSent,
    OpenConnection,
    PendingSendsDropped,
    ProtocolViolation,
    Reconnecting,
    ReconnectReason,
    SendPayload,
    SessionInvalidated,
    StatusChanged,
)
from birbctl.protocol.heartbeat import HeartbeatSchedule
from birbctl.protocol.identify import IdentifyGate
from birbctl.protocol.latency import LatencyStats, LatencyTracker
from birbctl.protocol.opcodes import (
    CLOSE_TO_RESUME,
    USER_OPS,
    CloseAction,
    CloseCode,
    Opcode,
    check_client_close,
    client_close_ends_session,
    close_label,
    policy_for,
)
from birbctl.protocol.payloads import (
    Payload,
    Secret,
    heartbeat_payload,
    identify_payload,
    resume_payload,
)
from birbctl.protocol.ratelimit import SendLimiter, check_payload_size
from birbctl.protocol.status import GatewayStatus, Phase, check_phase_change
from birbctl.protocol.urls import API_VERSION, build_gateway_url
from birbctl.protocol.wire import Compression, Encoding

__all__ = ["DEFAULT_GATEWAY_URL", "GatewaySession", "GatewayStatus", "Phase", "SessionCounters"]

Encoder = Callable[[Payload], bytes | str]
Clock = Callable[[], float]

DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/"
#: After an op 9 d=false, Discord asks for a random 1-5 s wait before identifying.
INVALID_SESSION_WAIT = (1.0, 5.0)
_MAX_CLOSE_REASON = 123  # bytes a close frame's reason may hold

_P = Phase
#: A close of ours on an open socket, and the same close issued while it was opening.
_ABORTING = {
    _P.CLOSING_TO_RESUME: _P.ABORTING_TO_RESUME,
    _P.CLOSING_TO_IDENTIFY: _P.ABORTING_TO_IDENTIFY,
    _P.CLOSING_TO_STOP: _P.ABORTING_TO_STOP,
}
_OPENED = {aborting: closing for closing, aborting in _ABORTING.items()}
_TO_STOP = (_P.CLOSING_TO_STOP, _P.ABORTING_TO_STOP)
_TO_RESUME = (_P.CLOSING_TO_RESUME, _P.ABORTING_TO_RESUME)
_AUTHENTICATED = (_P.READY, _P.WAITING_FOR_GUILDS)  # READY or RESUMED came on this connection


_USER = ReconnectReason.USER


@dataclass(slots=True)
class _Closing:
    """The close of ours under way; what follows it is in the phase (CLOSING_TO_*)."""

    why: str
    reason: ReconnectReason  # what the reconnect after it is counted as
    code: int | None  # what we sent; None when we dropped the connection
    delay: float | None = None  # a minimum wait before reconnecting
    immediate: bool = False  # reconnect at once, outside the backoff (a user's request)


@dataclass(slots=True)
class _QueuedSend:
    payload: Payload
    data: bytes | str


@dataclass(slots=True)
class SessionCounters:
    """Running totals for the status table; never reset by reconnects."""

    connections: int = 0  # connections attempted (OpenConnection emitted)
    failed_connections: int = 0  # could not open
    reconnects: int = 0  # reconnects scheduled
    identifies: int = 0  # IDENTIFY sent
    reidentifies: int = 0  # IDENTIFY sent after the first one
    resume_attempts: int = 0  # RESUME sent
    resumes: int = 0  # RESUMED received
    events_received: int = 0  # every payload received
    dispatches: int = 0  # op 0 payloads received
    dispatch_counts: Counter[str] = field(default_factory=Counter)  # by event name
    heartbeats_sent: int = 0
    heartbeats_acked: int = 0
    payloads_sent: int = 0  # every SendPayload emitted
    protocol_violations: int = 0


class GatewaySession:
    """The client side of one gateway connection at a time, reconnecting as the rules say.

    A port of birb's `Websocket` state (status, ping, session id, sequence, ...). All
    times (`last_heartbeat`, `connected_since`, `last_resume`) are readings of the
    injected monotonic clock, in seconds; `ping` and latency stats are milliseconds.

    The driver's part: `connect()`; after every call, perform `actions()` in order; answer
    an OpenConnection with `connection_opened()` or `connection_failed()`; feed payloads
    to `receive_payload()` while `is_connected`; report the socket gone with
    `connection_closed()`; call `tick()` at `next_deadline()`. `phase` says where the
    session stands; a call the phase does not allow raises LocalProtocolError.
    """

    def __init__(
        self,
        token: str,
        *,
        intents: int,
        gateway_url: str = DEFAULT_GATEWAY_URL,
        shard: tuple[int, int] | None = None,
        properties: Mapping[str, str] | None = None,
        large_threshold: int = 50,
        presence: Mapping[str, Any] | None = None,
        encoding: Encoding | str = Encoding.JSON,
        compress: Compression | str | None = Compression.NONE,
        encode: Encoder = encode_json,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        backoff_base: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_cap: float = 60.0,
        backoff_jitter: Jitter = "equal",
        guild_ready_timeout: float = 10.0,
        hello_timeout: float = 20.0,
        api_version: int = API_VERSION,
        identify_gate: IdentifyGate | None = None,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ConfigError("a bot token is required")
        if isinstance(intents, bool) or not isinstance(intents, int) or intents < 0:
            raise ConfigError("intents must be a non-negative integer")
        if shard is not None:
            shard_id, shard_count = shard
            if not (shard_count >= 1 and 0 <= shard_id < shard_count):
                raise ConfigError(
                    f"invalid shard [{shard_id}, {shard_count}]: need 0 <= id < count"
                )
            shard = (shard_id, shard_count)
        if not 50 <= large_threshold <= 250:
            raise ConfigError(f"large_threshold must be 50..250, got {large_threshold}")
        try:
            encoding = Encoding(encoding)
        except ValueError:
            raise ConfigError(
                f"encoding must be one of {', '.join(Encoding)}, got {encoding!r}"
            ) from None
        try:
            compress = Compression.of(compress)
        except ValueError:
            raise ConfigError(
                f"compress must be one of {', '.join(Compression)}, got {compress!r}"
            ) from None
        if not guild_ready_timeout > 0 or not hello_timeout > 0:
            raise ConfigError("guild_ready_timeout and hello_timeout must be positive")

        self._token = Secret(token.strip())
        self.intents = intents
        self.shard = shard
        self.properties: dict[str, str] = {
            "os": sys.platform,
            "browser": "birbctl",
            "device": "birbctl",
            **(properties or {}),
        }
        self.large_threshold = large_threshold
        self.presence: dict[str, Any] | None = dict(presence) if presence is not None else None
        self.gateway_url = gateway_url
        self.encoding = encoding
        self.compress = compress
        self.api_version = api_version
        self.guild_ready_timeout = guild_ready_timeout
        self.hello_timeout = hello_timeout
        self._encode = encode
        self._identify_gate = identify_gate
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self.backoff = Backoff(
            self._rng,
            base=backoff_base,
            factor=backoff_factor,
            cap=backoff_cap,
            jitter=backoff_jitter,
        )
        build_gateway_url(gateway_url, encoding=encoding, compress=compress)  # fail early
        # Fail now, not on HELLO, if the configured presence makes IDENTIFY too big.
        try:
            check_payload_size(self._encode(self._identify()), Opcode.IDENTIFY)
        except LocalProtocolError as exc:
            raise ConfigError(f"IDENTIFY would be too large (presence?): {exc}") from None

        # birb's Websocket fields (`status` is read from the phase)
        self.ping: float | None = None
        self.last_heartbeat: float | None = None
        self.last_heartbeat_acked = True
        self.heartbeat_interval: float | None = None  # ms, from HELLO
        self.session_id: str | None = None
        self.resume_gateway_url: str | None = None
        self.sequence: int | None = None
        self.do_not_reconnect = False
        self.last_resume: float | None = None
        self.connected_since: float | None = None
        self.has_been_ready = False
        self.expected_guilds: set[str] = set()
        self.last_close_code: int | None = None
        self.last_close_reason: str | None = None
        self.counters = SessionCounters()
        self.latency = LatencyTracker()

        self._phase = Phase.IDLE
        self._actions: list[Action] = []
        self._url: str | None = None
        self._limiter: SendLimiter[_QueuedSend] = SendLimiter()
        self._resume = False  # this connection (or the one waited for) resumes, not identifies
        self._on_resume_url = False  # this connection went to READY's resume_gateway_url
        self._resume_url_failed = False  # ... and could not open: use the gateway URL again
        self._replayed = 0  # dispatches since RESUME
        self._heartbeat: HeartbeatSchedule | None = None  # from HELLO to the close
        # Each of these is read only in the phase it belongs to.
        self._closing = _Closing("", _USER, None)  # CLOSING_TO_* and ABORTING_TO_*
        self._hello_deadline = 0.0  # live phases, until HELLO starts the heartbeat
        self._identify_at = 0.0  # IDENTIFY_HELD: the slot the identify gate gave us
        self._guild_deadline = 0.0  # WAITING_FOR_GUILDS
        self._reconnect_at = 0.0  # RECONNECT_WAIT

    # --- public state ---------------------------------------------------------------

    def __repr__(self) -> str:
        shard = list(self.shard) if self.shard is not None else None
        return (
            f"<GatewaySession shard={shard} status={self.status.value} "
            f"session_id={self.session_id!r} sequence={self.sequence} url={self.url!r}>"
        )

    @property
    def phase(self) -> Phase:
        """Where the session stands, in full (see `Phase`)."""
        return self._phase

    @property
    def status(self) -> GatewayStatus:
        """Where the session stands, as birb's eight states: a function of `phase`."""
        return self._phase.status

    @property
    def url(self) -> str:
        """The URL of the current (or last) connection; the fresh one before any."""
        return self._url if self._url is not None else self.generate_url()

    def generate_url(self, resume: bool = False) -> str:
        """The URL to connect to: the resume URL from READY when resuming, with our query."""
        base = self.gateway_url
        if resume and self.resume_gateway_url:
            base = self.resume_gateway_url
        return build_gateway_url(
            base, encoding=self.encoding, compress=self.compress, version=self.api_version
        )

    def set_session_id(
        self,
        session_id: str | None,
        *,
        sequence: int | None = None,
        resume_gateway_url: str | None = None,
    ) -> None:
        """Adopt a session (e.g. from another process) so the next connection resumes it."""
        self.session_id = session_id
        if sequence is not None:
            self.sequence = sequence
        if resume_gateway_url is not None:
            self.resume_gateway_url = resume_gateway_url

    @property
    def is_connected(self) -> bool:
        """The driver reported the socket open, and not yet gone (closing included)."""
        return self._phase.connected

    @property
    def is_connecting(self) -> bool:
        """An OpenConnection is pending: call `connection_opened()` or `_failed()` next."""
        return self._phase.connecting

    @property
    def is_closed(self) -> bool:
        """No socket: idle, waiting to reconnect, or stopped."""
        return not (self._phase.connected or self._phase.connecting)

    @property
    def latency_stats(self) -> LatencyStats:
        return self.latency.stats()

    @property
    def pending_sends(self) -> int:
        """User payloads waiting for the rate limit or for the session to be READY."""
        return self._limiter.pending

    @property
    def limiter_waits(self) -> int:
        """User payloads the rate limit held back (each once), since the session began."""
        return self._limiter.held

    def actions(self) -> list[Action]:
        """Everything produced since the last call, in order; the driver performs them."""
        out, self._actions = self._actions, []
        return out

    def next_deadline(self) -> float | None:
        """The earliest clock reading at which `tick()` must run; None: nothing timed."""
        phase = self._phase
        if phase is Phase.RECONNECT_WAIT:
            return self._reconnect_at
        if not phase.live:
            return None
        # Before HELLO the hello deadline, from HELLO on the next beat.
        at = self._hello_deadline if self._heartbeat is None else self._heartbeat.next_at
        if phase is Phase.IDENTIFY_HELD:
            at = min(at, self._identify_at)
        elif phase is Phase.WAITING_FOR_GUILDS:
            at = min(at, self._guild_deadline)
        if phase in _AUTHENTICATED:
            release = self._limiter.next_release(self._clock())
            if release is not None:
                at = min(at, release)
        return at

    # --- connection events from the driver ------------------------------------------

    def connect(self) -> None:
        """Start (or restart, once DISCONNECTED) the session; resumes if one is known.

        Next: perform the OpenConnection, then call `connection_opened()` or
        `connection_failed()`.
        """
        phase = self._phase
        if phase.connected or phase.connecting:
            raise LocalProtocolError(
                "cannot connect: a connection is already "
                + ("open" if phase.connected else "opening")
                + (" (closing)" if phase.leaving else "")
            )
        if phase is not Phase.IDLE and phase is not Phase.STOPPED:
            raise LocalProtocolError(f"cannot connect: the session is {self.status.value}")
        self.do_not_reconnect = False
        self.backoff.reset()
        self._open(resume=self.session_id is not None)

    def connection_opened(self) -> None:
        """The socket of the pending OpenConnection is open.

        Next: feed every decoded payload to `receive_payload()` (HELLO is due within
        hello_timeout), and `connection_closed()` once the socket is gone.
        """
        phase = self._phase
        if not phase.connecting:
            raise LocalProtocolError("connection_opened() without a pending OpenConnection")
        now = self._clock()
        self.connected_since = now
        if phase is Phase.OPENING:
            self._hello_deadline = now + self.hello_timeout
            self._set_phase(Phase.AWAITING_HELLO, "connected; waiting for HELLO")
        else:  # dropped while opening: the driver is closing it
            self._set_phase(_OPENED[phase], self._closing.why)

    def connection_failed(self, error: str) -> None:
        """The connection could not be opened (DNS, TCP, TLS, HTTP upgrade...).

        Next: perform the actions; a reconnect opens at once or at `next_deadline()`.
        """
        phase = self._phase
        if phase.connected:
            self.connection_closed(None, error)
            return
        if not phase.connecting:
            return
        self.counters.failed_connections += 1
        if self._on_resume_url:
            # The docs: if reconnecting fails, use the URL from GET /gateway/bot.
            self._resume_url_failed = True
        if phase.leaving:
            self._after_close()
            return
        self._schedule_reconnect(
            resume=self._resume,
            why=f"could not connect: {error}",
            reason=ReconnectReason.CONNECT_FAILED,
        )

    def connection_closed(self, code: int | None, reason: str = "") -> None:
        """The socket is gone: after our close or drop, the gateway's close, or a network loss.

        Next: perform the actions (a reconnect, or DISCONNECTED and maybe a FatalClose).
        """
        phase = self._phase
        if not (phase.connected or phase.connecting):
            return  # already handled (a driver may report a close twice)
        self.last_close_code = code
        self.last_close_reason = reason
        self._end_connection()
        policy = policy_for(code)
        if (
            policy.action is CloseAction.FATAL
            and phase not in _TO_STOP
            and not (phase.leaving and code == self._closing.code)
        ):
            self._fatal(code, reason, policy.description)
            return
        if phase.leaving:
            self._after_close()
            return
        why = f"gateway closed the connection ({close_label(code)}): {policy.description}"
        if policy.action is CloseAction.REIDENTIFY:
            self._invalidate_session()
        self._schedule_reconnect(
            resume=policy.action is CloseAction.RESUME,
            why=why,
            reason=ReconnectReason.GATEWAY_CLOSE,
        )

    def receive_payload(self, payload: Mapping[str, Any]) -> None:
        """A decoded gateway payload `{op, d, s, t}`."""
        if not self._phase.connected:
            raise LocalProtocolError("receive_payload() with no open connection")
        self.counters.events_received += 1
        op = payload.get("op") if isinstance(payload, Mapping) else None
        if isinstance(op, bool) or not isinstance(op, int):
            keys = ", ".join(sorted(map(str, payload))) if isinstance(payload, Mapping) else "-"
            self._violation(f"payload without an integer op (keys: {keys})", close=True)
            return
        if op == Opcode.DISPATCH:
            self._on_dispatch(payload)
        elif op == Opcode.HEARTBEAT_ACK:
            self._on_heartbeat_ack()
        elif not self._phase.live:
            return  # this connection is on its way out; only its events still count
        elif op == Opcode.HELLO:
            self._on_hello(payload.get("d"))
        elif op == Opcode.HEARTBEAT:
            self._beat(scheduled=False)
        elif op == Opcode.RECONNECT:
            self._close_for(
                Phase.CLOSING_TO_RESUME,
                "the gateway asked for a reconnect (op 7)",
                reason=ReconnectReason.OP7,
            )
        elif op == Opcode.INVALID_SESSION:
            self._on_invalid_session(payload.get("d") is True)
        else:
            self._violation(f"unexpected opcode {op} from the gateway; ignored", close=False)

    def receive_error(self, error: BaseException | str) -> None:
        """A frame could not be inflated or decoded: the stream is broken, resume elsewhere."""
        if not self._phase.live:
            return
        self._violation(f"could not decode a frame: {error}", close=True)

    def tick(self) -> None:
        """Do whatever is due at the clock's current reading; then ask `next_deadline()`."""
        now = self._clock()
        phase = self._phase
        if phase is Phase.RECONNECT_WAIT:
            if now >= self._reconnect_at:
                self._open(resume=self._resume)
            return
        if not phase.live:
            return
        if self._heartbeat is None and now >= self._hello_deadline:
            self._close_for(
                Phase.CLOSING_TO_RESUME,
                f"no HELLO within {self.hello_timeout:g} s",
                reason=ReconnectReason.HELLO_TIMEOUT,
            )
            return
        if phase is Phase.IDENTIFY_HELD and now >= self._identify_at:
            self._send_identify()
        if self._heartbeat is not None and self._heartbeat.due(now):
            if self._heartbeat.zombie:
                self._close_for(
                    Phase.CLOSING_TO_RESUME,
                    "zombie connection: no HEARTBEAT_ACK since the last heartbeat",
                    reason=ReconnectReason.ZOMBIE,
                )
                return
            self._beat(scheduled=True)
        if self._phase is Phase.WAITING_FOR_GUILDS and now >= self._guild_deadline:
            self._set_phase(
                Phase.READY,
                f"guild_ready_timeout: {len(self.expected_guilds)} guild(s) did not arrive "
                f"within {self.guild_ready_timeout:g} s",
            )
        self._flush_sends()

    # --- user commands --------------------------------------------------------------

    def send(self, payload: Mapping[str, Any]) -> None:
        """Queue a user payload (ops 3, 4, 8, 31, 43); it goes once READY, within the limit."""
        if self._stopped():
            raise LocalProtocolError(
                f"cannot send: the session is {self.status.value}; connect() first"
            )
        op = payload.get("op") if isinstance(payload, Mapping) else None
        if isinstance(op, bool) or not isinstance(op, int):
            raise LocalProtocolError("cannot send a payload without an integer op")
        if op not in USER_OPS:
            try:
                name = Opcode(op).name
            except ValueError:
                raise LocalProtocolError(
                    f"cannot send op {op}: not an opcode a client may send"
                ) from None
            raise LocalProtocolError(
                f"cannot send op {op} ({name}): the session sends heartbeats, IDENTIFY and "
                "RESUME itself and never sends receive-only ops; use heartbeat() or reconnect()"
            )
        body: Payload = {"op": op, "d": payload.get("d")}
        data = self._encode(body)
        check_payload_size(data, op)
        if op == Opcode.PRESENCE_UPDATE and isinstance(body["d"], Mapping):
            self._adopt_presence(body["d"])
        self._limiter.submit(_QueuedSend(body, data))
        self._flush_sends()

    def heartbeat(self) -> None:
        """Beat now, outside the schedule (the schedule and its zombie check are untouched)."""
        if not self._phase.live:
            raise LocalProtocolError("cannot heartbeat: no open connection")
        self._beat(scheduled=False)

    def reconnect(self, resume: bool = True, *, code: int | None = None) -> None:
        """Reconnect now: close (4000 to resume, 1000 to start a new session) and reopen.

        `code` closes with another code (3000-4999 to resume; 1000/1001 only with
        resume=False, since they end the session). An explicit request, so it overrides
        `prevent_reconnect()` and skips the backoff.
        """
        if code is not None:
            check_client_close(code, resume=resume)
        phase = self._phase
        if phase.leaving:
            if phase in _TO_STOP:
                raise LocalProtocolError("cannot reconnect: the session is closing")
            self.do_not_reconnect = False
            if not resume:
                self._invalidate_session()
                self._set_phase(self._leaving(Phase.CLOSING_TO_IDENTIFY), self._closing.why)
            self._closing.immediate = True
            return
        self.do_not_reconnect = False
        if not resume:
            self._invalidate_session()
        then = Phase.CLOSING_TO_RESUME if resume else Phase.CLOSING_TO_IDENTIFY
        why = "reconnect requested by the user" + ("" if resume else " (new session)")
        if phase.connected:
            if code is None:
                code = CLOSE_TO_RESUME if resume else CloseCode.NORMAL_CLOSURE
            else:
                why += f" (close code {code})"
            self._close_for(then, why, reason=_USER, code=code, immediate=True)
        elif phase.connecting:
            self._close_for(then, why, reason=_USER, drop=True, immediate=True)
        elif phase is Phase.RECONNECT_WAIT:
            self._open(resume=resume)
        else:
            self.connect()

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close for good. 1000/1001 also invalidate the session; other codes keep it."""
        check_client_close(code, resume=False)
        if client_close_ends_session(code):
            self._invalidate_session()
        why = f"closed by the user ({code})"
        self.do_not_reconnect = True
        phase = self._phase
        if phase.live:
            self._close_for(Phase.CLOSING_TO_STOP, why, reason=_USER, code=code, text=reason)
        elif phase is Phase.OPENING:
            self._close_for(Phase.CLOSING_TO_STOP, why, reason=_USER, drop=True)
        elif phase.leaving:
            self._closing.why = why
            self._stop(why, then=self._leaving(Phase.CLOSING_TO_STOP))
        elif phase is Phase.RECONNECT_WAIT:
            self._stop(why)

    def terminate(self) -> None:
        """Drop the TCP connection without a close frame, then resume as after a zombie."""
        phase = self._phase
        if not (phase.connected or phase.connecting):
            raise LocalProtocolError("cannot terminate: no connection")
        if phase.leaving:
            self._emit(DropConnection())  # a close that hangs: cut it
            return
        self._close_for(
            Phase.CLOSING_TO_RESUME,
            "terminated by the user (dropped without a close frame)",
            reason=_USER,
            drop=True,
        )

    def prevent_reconnect(self) -> None:
        """No automatic reconnect after the next close (a waiting reconnect is cancelled)."""
        self.do_not_reconnect = True
        if self._phase is Phase.RECONNECT_WAIT:
            self._stop("reconnect prevented by the user")

    # --- inbound payloads -----------------------------------------------------------

    def _on_hello(self, d: Any) -> None:
        if self._heartbeat is not None:
            self._violation("second HELLO on one connection; ignored", close=False)
            return
        interval = d.get("heartbeat_interval") if isinstance(d, Mapping) else None
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            self._violation("HELLO without a positive heartbeat_interval", close=True)
            return
        now = self._clock()
        self.heartbeat_interval = interval
        self._heartbeat = HeartbeatSchedule(interval, now, self._rng.random())
        self._limiter.set_heartbeat_interval(self._heartbeat.interval)
        if self._phase is not Phase.AWAITING_HELLO:
            return  # READY or RESUMED came first: the session is up, it lacked only a heartbeat
        if self._resume and self.session_id is not None:
            self.counters.resume_attempts += 1
            self._replayed = 0
            self._set_phase(Phase.RESUMING, f"resuming session at sequence {self.sequence}")
            self._send_now(resume_payload(self._token.reveal(), self.session_id, self.sequence))
        else:
            at = now
            if self._identify_gate is not None:
                at = self._identify_gate.reserve(self._shard_id(), now)
            if at > now:
                self._identify_at = at
                self._set_phase(
                    Phase.IDENTIFY_HELD,
                    f"waiting {at - now:.1f} s for an identify slot (max_concurrency)",
                )
                return
            self._send_identify()

    def _send_identify(self) -> None:
        if self.counters.identifies:
            self.counters.reidentifies += 1
        self.counters.identifies += 1
        self._set_phase(Phase.IDENTIFYING, "identifying")
        self._send_now(self._identify())

    def _on_heartbeat_ack(self) -> None:
        self.counters.heartbeats_acked += 1
        rtt: float | None = None
        if self._heartbeat is not None:
            rtt = self._heartbeat.ack(self._clock())
            self.last_heartbeat_acked = self._heartbeat.acked
        if rtt is not None:
            self.ping = rtt
            self.latency.record(rtt)
        self._emit(HeartbeatAcked(rtt))

    def _on_invalid_session(self, resumable: bool) -> None:
        self._emit(SessionInvalidated(resumable))
        if resumable and self.session_id is not None:
            self._close_for(
                Phase.CLOSING_TO_RESUME,
                "invalid session (resumable)",
                reason=ReconnectReason.INVALID_SESSION,
            )
            return
        self._invalidate_session()
        low, high = INVALID_SESSION_WAIT
        self._close_for(
            Phase.CLOSING_TO_IDENTIFY,
            "invalid session: starting a new one",
            reason=ReconnectReason.INVALID_SESSION,
            delay=self._rng.uniform(low, high),
        )

    def _on_dispatch(self, payload: Mapping[str, Any]) -> None:
        t, s, d = payload.get("t"), payload.get("s"), payload.get("d")
        if isinstance(s, int) and not isinstance(s, bool):
            if self.sequence is None or s > self.sequence:
                self.sequence = s
        else:
            s = None
        if not isinstance(t, str):
            self._violation("dispatch without an event name (t)", close=False)
            return
        self.counters.dispatches += 1
        self.counters.dispatch_counts[t] += 1
        self._replayed += 1
        self._emit(DispatchReceived(t, s, d))
        if t == "READY":
            self._on_ready(d)
        elif t == "RESUMED":
            self._on_resumed()
        elif t == "GUILD_CREATE":
            self._on_guild_create(d)

    def _on_ready(self, d: Any) -> None:
        if not isinstance(d, Mapping):
            self._violation("READY without data", close=False)
            return
        session_id = d.get("session_id")
        self.session_id = session_id if isinstance(session_id, str) else None
        resume_url = d.get("resume_gateway_url")
        self.resume_gateway_url = resume_url if isinstance(resume_url, str) else None
        self._resume_url_failed = False
        guilds = d.get("guilds")
        self.expected_guilds = {
            str(g["id"])
            for g in (guilds if isinstance(guilds, list) else [])
            if isinstance(g, Mapping) and "id" in g and g.get("unavailable", True) is not False
        }
        self.has_been_ready = True
        self._healthy()
        if not self._phase.live:
            return
        if self.expected_guilds:
            self._guild_deadline = self._clock() + self.guild_ready_timeout
            self._set_phase(
                Phase.WAITING_FOR_GUILDS,
                f"READY; waiting for {len(self.expected_guilds)} guild(s)",
            )
        else:
            self._set_phase(Phase.READY, "READY")
        self._flush_sends()

    def _on_resumed(self) -> None:
        self.last_resume = self._clock()
        self.counters.resumes += 1
        replayed = max(0, self._replayed - 1)
        self._healthy()
        if not self._phase.live:
            return
        self._set_phase(Phase.READY, f"RESUMED ({replayed} event(s) replayed)")
        self._flush_sends()

    def _on_guild_create(self, d: Any) -> None:
        if not isinstance(d, Mapping) or "id" not in d:
            return
        self.expected_guilds.discard(str(d["id"]))
        if self._phase is not Phase.WAITING_FOR_GUILDS:
            return
        if self.expected_guilds:
            # Each arrival restarts the wait: large bots stream guilds for a while.
            self._guild_deadline = self._clock() + self.guild_ready_timeout
        else:
            self._set_phase(Phase.READY, "all guilds arrived")

    # --- outbound -------------------------------------------------------------------

    def _identify(self) -> Payload:
        return identify_payload(
            self._token.reveal(),
            intents=self.intents,
            properties=self.properties,
            shard=self.shard,
            large_threshold=self.large_threshold,
            presence=self.presence,
            compress=False if self.encoding is Encoding.JSON else None,
        )

    def _adopt_presence(self, presence: Mapping[str, Any]) -> None:
        """A re-IDENTIFY carries the latest presence, unless that would make it too big."""
        previous, self.presence = self.presence, dict(presence)
        try:
            check_payload_size(self._encode(self._identify()), Opcode.IDENTIFY)
        except LocalProtocolError:
            self.presence = previous

    def _send_now(self, payload: Payload) -> None:
        """IDENTIFY and RESUME: counted by the limiter, never queued."""
        data = self._encode(payload)
        check_payload_size(data, payload.get("op"))
        self._limiter.record(self._clock())
        self._emit_send(payload, data, heartbeat=False)

    def _beat(self, *, scheduled: bool) -> None:
        now = self._clock()
        payload = heartbeat_payload(self.sequence)
        self._limiter.heartbeat(now)
        self._emit_send(payload, self._encode(payload), heartbeat=True)
        self.last_heartbeat = now
        self.last_heartbeat_acked = False
        if self._heartbeat is not None:
            if scheduled:
                self._heartbeat.beat_scheduled(now)
            else:
                self._heartbeat.beat_extra(now)
        self.counters.heartbeats_sent += 1
        self._emit(HeartbeatSent(self.sequence, scheduled))

    def _flush_sends(self) -> None:
        if self._phase not in _AUTHENTICATED:
            return
        for item in self._limiter.release(self._clock()):
            self._emit_send(item.payload, item.data, heartbeat=False)

    def _emit_send(self, payload: Payload, data: bytes | str, *, heartbeat: bool) -> None:
        self.counters.payloads_sent += 1
        self._emit(SendPayload(payload, data, heartbeat))

    # --- transitions ----------------------------------------------------------------

    def _open(self, *, resume: bool) -> None:
        resume = resume and self.session_id is not None
        on_resume_url = resume and bool(self.resume_gateway_url) and not self._resume_url_failed
        self._url = self.generate_url(resume=on_resume_url)
        self._resume = resume
        self._on_resume_url = on_resume_url
        self._limiter.reset()
        self.counters.connections += 1
        self._set_phase(
            Phase.OPENING,
            ("connecting to resume" if resume else "connecting") + f" ({self._url})",
        )
        self._emit(OpenConnection(self._url))

    def _leaving(self, then: Phase) -> Phase:
        """CLOSING_TO_* `then`, or its ABORTING_* twin if the socket is not open yet."""
        return then if self._phase.connected else _ABORTING[then]

    def _close_for(
        self,
        then: Phase,
        why: str,
        *,
        reason: ReconnectReason,
        code: int = CLOSE_TO_RESUME,
        text: str | None = None,
        drop: bool = False,
        delay: float | None = None,
        immediate: bool = False,
    ) -> None:
        """Close (or drop) this connection; `then` (CLOSING_TO_*) says what follows it,
        `reason` what the reconnect after it counts as, `text` the close frame's reason
        (default: `why`)."""
        self._closing = _Closing(why, reason, None if drop else code, delay, immediate)
        self._give_back_identify_slot()
        if drop:
            self._emit(DropConnection())
        else:
            self._emit(CloseConnection(code, _truncate(why if text is None else text)))
        if then is Phase.CLOSING_TO_STOP:
            self._stop(why, then=self._leaving(then))
        else:
            self._set_phase(self._leaving(then), why)

    def _after_close(self) -> None:
        """Our close or drop is done (the socket is gone): stop, or reconnect as it said."""
        closing = self._closing
        if self._phase in _TO_STOP:
            self._stop(closing.why)
            return
        self._schedule_reconnect(
            resume=self._phase in _TO_RESUME,
            why=closing.why,
            reason=closing.reason,
            delay=closing.delay,
            immediate=closing.immediate,
        )

    def _schedule_reconnect(
        self,
        *,
        resume: bool,
        why: str,
        reason: ReconnectReason,
        delay: float | None = None,
        immediate: bool = False,
    ) -> None:
        if self.do_not_reconnect:
            self._stop(f"{why}; not reconnecting (reconnect prevented)")
            return
        if immediate:
            wait = 0.0
        else:
            wait = self.backoff.next_delay()
            if delay is not None:
                wait = max(wait, delay)
        resume = resume and self.session_id is not None
        self.counters.reconnects += 1
        self._resume = resume
        self._reconnect_at = self._clock() + wait
        self._set_phase(Phase.RECONNECT_WAIT, why)
        self._emit(Reconnecting(wait, resume, why, reason))
        if wait <= 0:
            self._open(resume=resume)

    def _fatal(self, code: int | None, reason: str, description: str) -> None:
        self._emit(FatalClose(code, reason, description))
        self._stop(f"gateway closed the connection ({close_label(code)}): {description}")

    def _stop(self, why: str, *, then: Phase = Phase.STOPPED) -> None:
        """DISCONNECTED: nothing scheduled; queued user payloads can no longer go.

        `then` is STOPPED once the socket is gone, *_TO_STOP while ours still closes.
        """
        dropped = self._limiter.drain()
        if dropped:
            self._emit(PendingSendsDropped(len(dropped), why))
        self._set_phase(then, why)

    def _violation(self, message: str, *, close: bool) -> None:
        self.counters.protocol_violations += 1
        self._emit(ProtocolViolation(message, close))
        if close and self._phase.live:
            self._close_for(
                Phase.CLOSING_TO_RESUME,
                f"protocol error: {message}",
                reason=ReconnectReason.PROTOCOL_ERROR,
            )

    def _healthy(self) -> None:
        """READY or RESUMED: the connection works; an IDENTIFY still held will not go."""
        self.backoff.reset()
        self._give_back_identify_slot()

    def _invalidate_session(self) -> None:
        self.session_id = None
        self.sequence = None
        self.resume_gateway_url = None
        self._resume_url_failed = False
        self.expected_guilds = set()

    def _give_back_identify_slot(self) -> None:
        """Call on leaving IDENTIFY_HELD without sending: free the slot for the next one."""
        if self._phase is Phase.IDENTIFY_HELD and self._identify_gate is not None:
            self._identify_gate.release(self._shard_id(), self._identify_at)

    def _shard_id(self) -> int:
        return self.shard[0] if self.shard is not None else 0

    def _end_connection(self) -> None:
        """The socket is gone (the phase moves on right after)."""
        self._give_back_identify_slot()
        self.connected_since = None
        self._heartbeat = None
        self.last_heartbeat_acked = True

    def _set_phase(self, new: Phase, reason: str) -> None:
        """The one place the phase changes: the table says whether it may."""
        old = self._phase
        if new is old:
            return
        check_phase_change(old, new)
        self._phase = new
        if new.status is not old.status:
            self._emit(StatusChanged(old.status, new.status, reason))

    def _stopped(self) -> bool:
        return self._phase.status in (GatewayStatus.IDLE, GatewayStatus.DISCONNECTED)

    def _emit(self, action: Action) -> None:
        self._actions.append(action)


def _truncate(reason: str) -> str:
    """Close reasons hold at most 123 UTF-8 bytes."""
    data = reason.encode("utf-8")
    if len(data) <= _MAX_CLOSE_REASON:
        return reason
    return data[:_MAX_CLOSE_REASON].decode("utf-8", errors="ignore")
