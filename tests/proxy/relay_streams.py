"""Gateway streams made the way the emulator makes them (emulator/frames.py payloads,
transport/deflate.py frames), and the bot's side: a fresh inflater per connection."""

from __future__ import annotations

from typing import Any

from birbctl.codec.message import decode_message
from birbctl.emulator.frames import PreparedDispatch, encode_payload
from birbctl.protocol.wire import Compression, Encoding
from birbctl.proxy.relay import Frame, GatewayRelay, RelayEvent
from birbctl.transport.deflate import ZstdStreamDeflater, make_deflater
from birbctl.transport.inflate import make_inflater

REAL_RESUME_URL = "wss://gateway-us-east1-b.discord.gg"
PROXY_RESUME_URL = "ws://127.0.0.1:5555/resume/abc123"
TOKEN = "MTA5ODc2NTQzMjEwMTIzNDU2.Gx7yZq.s3cr3t-b0t-t0k3n-do-not-leak"

GUILD_IDS = ["81384788765712384", "290926798626357250"]


def ready_d() -> dict[str, Any]:
    """READY's `d` as a bot gets it (ids that ETF carries as integers, nulls, nesting)."""
    return {
        "v": 10,
        "user": {
            "id": "272502210401665025",
            "username": "birb",
            "bot": True,
            "avatar": None,
            "discriminator": "0",
            "flags": 0,
        },
        "guilds": [{"id": g, "unavailable": True} for g in GUILD_IDS],
        "session_id": "f97bdc3210d0da33a3c61d8363e68579",
        "resume_gateway_url": REAL_RESUME_URL,
        "session_type": "normal",
        "shard": [0, 1],
        "application": {"id": "272502210401665025", "flags": 565248},
        "_trace": ['["gateway-prd-us-east1-b-6k0w",{"micros":81042}]'],
    }


def message_create(n: int) -> dict[str, Any]:
    return {
        "id": str(1_300_000_000_000_000_000 + n),
        "channel_id": "290926798626357251",
        "guild_id": GUILD_IDS[0],
        "content": f"message {n} " + "chirp " * (n % 17),
        "author": {"id": "114941315417899012", "username": "someone", "bot": False},
        "mentions": [],
        "embeds": [],
        "tts": False,
        "pinned": False,
        "timestamp": "2026-11-27T12:34:56.789000+00:00",
    }


def session_messages(encoding: Encoding, count: int = 12) -> list[bytes]:
    """HELLO, READY, GUILD_CREATEs, MESSAGE_CREATEs, an ACK and op 7: one session's
    worth of server messages, as the emulator encodes them."""
    messages = [encode_payload(10, {"heartbeat_interval": 41250}, encoding)]
    seq = 0

    def dispatch(t: str, d: Any) -> bytes:
        nonlocal seq
        seq += 1
        return PreparedDispatch(t, d).message(encoding, seq)

    messages.append(dispatch("READY", ready_d()))
    for guild in GUILD_IDS:
        messages.append(dispatch("GUILD_CREATE", {"id": guild, "name": "birbs", "roles": []}))
    for n in range(count):
        messages.append(dispatch("MESSAGE_CREATE", message_create(n)))
        if n % 5 == 4:
            messages.append(encode_payload(11, None, encoding))
    messages.append(encode_payload(7, None, encoding))
    return messages


def upstream_frames(
    messages: list[bytes], encoding: Encoding, compress: Compression, **zstd: bool
) -> list[Frame]:
    """The frames the emulator sends for `messages`: JSON uncompressed as text."""
    if compress is Compression.NONE:
        if encoding is Encoding.JSON:
            return [m.decode() for m in messages]
        return list(messages)
    deflater = (
        ZstdStreamDeflater(**zstd)
        if compress is Compression.ZSTD_STREAM
        else make_deflater(compress)
    )
    return [deflater.frame(m) for m in messages]


class Bot:
    """The bot's side of a relay: what it receives, inflated with its own context."""

    def __init__(self, compress: Compression) -> None:
        self.inflater = make_inflater(compress)
        self.frames: list[Frame] = []
        self.messages: list[bytes] = []

    def receive(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.frames.append(frame)
            if isinstance(frame, str):
                self.messages.append(frame.encode())
                continue
            message = self.inflater.feed(frame)
            assert message is not None, "every frame to the bot must complete a message"
            self.messages.append(message)


def relay_for(
    encoding: Encoding, compress: Compression, clock: Any = None, **kwargs: Any
) -> tuple[GatewayRelay, list[RelayEvent]]:
    extra: dict[str, Any] = {} if clock is None else {"clock": clock}
    relay = GatewayRelay(
        encoding=encoding,
        compress=compress,
        resume_url_for=lambda real: PROXY_RESUME_URL if real == REAL_RESUME_URL else "?",
        **extra,
        **kwargs,
    )
    events: list[RelayEvent] = []
    relay.add_listener(events.append)
    return relay, events


def without_resume_url(message: bytes) -> Any:
    payload = decode_message(message)
    payload["d"].pop("resume_gateway_url")
    return payload


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
