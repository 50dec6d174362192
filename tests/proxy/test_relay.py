"""GatewayRelay, upstream -> bot: what the bot inflates is what upstream sent, message for
message, except READY's resume_gateway_url; broken and undecodable input is reported."""

from __future__ import annotations

import itertools
import zlib
from pathlib import Path
from typing import Any

import erlpack
import orjson
import pytest
from relay_streams import (
    PROXY_RESUME_URL,
    REAL_RESUME_URL,
    Bot,
    ready_d,
    relay_for,
    session_messages,
    upstream_frames,
    without_resume_url,
)

from birbctl.client.websocket import PacketEvent, WireEvent
from birbctl.codec.etf import decode_etf, encode_etf
from birbctl.codec.message import decode_message
from birbctl.emulator.frames import PreparedDispatch
from birbctl.errors import InflateError
from birbctl.options import EtfStyle
from birbctl.protocol.wire import Compression, Direction, Encoding
from birbctl.proxy.relay import RelayBroken
from birbctl.transport.deflate import make_deflater

ENCODINGS = list(Encoding)
COMPRESSIONS = list(Compression)
READY_AT = 1  # session_messages: HELLO, then READY


def relay_session(
    encoding: Encoding, compress: Compression, frames: list[Any]
) -> tuple[Bot, list[Any]]:
    relay, events = relay_for(encoding, compress)
    bot = Bot(compress)
    for frame in frames:
        bot.receive(relay.from_upstream(frame))
    return bot, events


def check_same_session(sent: list[bytes], received: list[bytes]) -> None:
    """Every message byte-for-byte, except READY: its URL rewritten, the rest equal."""
    assert len(received) == len(sent)
    for i, (before, after) in enumerate(zip(sent, received, strict=True)):
        if i != READY_AT:
            assert after == before, f"message {i} changed"
            continue
        assert decode_message(after)["d"]["resume_gateway_url"] == PROXY_RESUME_URL
        assert without_resume_url(after) == without_resume_url(before)


@pytest.mark.parametrize("compress", COMPRESSIONS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_bot_gets_upstreams_messages_with_readys_url_rewritten(
    encoding: Encoding, compress: Compression
) -> None:
    messages = session_messages(encoding)
    frames = upstream_frames(messages, encoding, compress)
    bot, _ = relay_session(encoding, compress, frames)
    check_same_session(messages, bot.messages)
    if compress is Compression.NONE:
        # Exactly as upstream sent them: JSON text, ETF binary; the same frame objects
        # for every message but READY.
        wanted = str if encoding is Encoding.JSON else bytes
        assert all(type(f) is wanted for f in bot.frames)
        pairs = enumerate(zip(frames, bot.frames, strict=True))
        assert all(a is b for i, (a, b) in pairs if i != READY_AT)
    if compress is Compression.ZLIB_STREAM:
        assert all(isinstance(f, bytes) and f.endswith(b"\x00\x00\xff\xff") for f in bot.frames)


def test_the_bots_zlib_stream_needs_one_context_for_the_connection() -> None:
    """Toward the bot, messages refer back to earlier ones, as Discord's do: a bot that
    inflates each message on its own (the classic zlib-stream bug) fails through the
    proxy as it would against Discord, instead of working by luck (level 0 would hide it)."""
    messages = session_messages(Encoding.JSON)
    frames = upstream_frames(messages, Encoding.JSON, Compression.ZLIB_STREAM)
    bot, _ = relay_session(Encoding.JSON, Compression.ZLIB_STREAM, frames)
    check_same_session(messages, bot.messages)
    alone = []
    for frame, message in zip(bot.frames[1:], bot.messages[1:], strict=True):
        try:
            alone.append(zlib.decompressobj(-zlib.MAX_WBITS).decompress(frame) == message)
        except zlib.error:
            alone.append(False)
    assert not all(alone)


@pytest.mark.parametrize("compress", [Compression.ZLIB_STREAM, Compression.ZSTD_STREAM])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_messages_split_across_frames_arrive_whole(
    encoding: Encoding, compress: Compression
) -> None:
    messages = session_messages(encoding)
    relay, _ = relay_for(encoding, compress)
    bot = Bot(compress)
    for frame in upstream_frames(messages, encoding, compress):
        assert isinstance(frame, bytes)
        cuts = [0, len(frame) // 3, 2 * len(frame) // 3, len(frame)]
        parts = [frame[a:b] for a, b in itertools.pairwise(cuts) if b > a]
        for part in parts[:-1]:
            assert relay.from_upstream(part) == []
        out = relay.from_upstream(parts[-1])
        assert len(out) == 1
        bot.receive(out)
    check_same_session(messages, bot.messages)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_zstd_with_a_frame_per_message_upstream(encoding: Encoding) -> None:
    messages = session_messages(encoding)
    frames = upstream_frames(messages, encoding, Compression.ZSTD_STREAM, frame_per_message=True)
    bot, _ = relay_session(encoding, Compression.ZSTD_STREAM, frames)
    check_same_session(messages, bot.messages)


def test_real_etf_ready_keeps_every_other_byte(vectors: Path) -> None:
    """Discord's own READY (atom keys, `session_type` an atom, snowflakes as SMALL_BIG):
    only the URL's bytes change, so erlpack reads every other value as before, atoms
    as atoms."""
    raw = (vectors / "cppetfer_etf_ready_v10.bin").read_bytes()
    bot, events = relay_session(
        Encoding.ETF, Compression.ZLIB_STREAM, make_frames([raw], Compression.ZLIB_STREAM)
    )
    (after,) = bot.messages
    old, new = REAL_RESUME_URL.encode(), PROXY_RESUME_URL.encode()
    assert after == raw.replace(
        len(old).to_bytes(4, "big") + old, len(new).to_bytes(4, "big") + new
    )
    before_term, after_term = erlpack.unpack(raw), erlpack.unpack(after)
    assert after_term["d"].pop("resume_gateway_url") == new
    before_term["d"].pop("resume_gateway_url")
    assert after_term == before_term
    assert type(after_term["d"]["session_type"]) is type(before_term["d"]["session_type"])
    packet = next(e for e in events if isinstance(e, PacketEvent))
    assert packet.payload["d"]["resume_gateway_url"] == PROXY_RESUME_URL
    assert packet.raw == after


def test_real_json_zlib_session(vectors: Path) -> None:
    """Three frames of one real zlib-stream session (HELLO, READY, GUILD_CREATE)."""
    frames = [(vectors / f"discordbm_zlib_stream_frame{i}.bin").read_bytes() for i in range(3)]
    inflate = zlib.decompressobj()
    sent = [inflate.decompress(f) for f in frames]
    real = orjson.loads(sent[1])["d"]["resume_gateway_url"]
    relay, _ = relay_for(Encoding.JSON, Compression.ZLIB_STREAM)
    relay._resume_url_for = lambda url: PROXY_RESUME_URL  # the real one is another host
    bot = Bot(Compression.ZLIB_STREAM)
    for frame in frames:
        bot.receive(relay.from_upstream(frame))
    check_same_session(sent, bot.messages)
    assert relay.real_resume_url == real


def make_frames(messages: list[bytes], compress: Compression) -> list[bytes]:
    deflater = make_deflater(compress)
    return [deflater.frame(m) for m in messages]


def ready_message(d: dict[str, Any], encoding: Encoding) -> bytes:
    return PreparedDispatch("READY", d).message(encoding, 1)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_ready_whose_url_cannot_be_spliced_is_re_encoded(encoding: Encoding) -> None:
    """The URL's key and value twice (here a nested copy): the splice would be a guess,
    so the payload is re-encoded (orjson; ETF as the gateway writes it) and still every
    other field survives, the nested copy included."""
    d = ready_d()
    d["application"]["resume_gateway_url"] = REAL_RESUME_URL
    before = ready_message(d, encoding)
    bot, _ = relay_session(
        encoding, Compression.ZLIB_STREAM, make_frames([before], Compression.ZLIB_STREAM)
    )
    (after,) = bot.messages
    assert decode_message(after)["d"]["resume_gateway_url"] == PROXY_RESUME_URL
    assert without_resume_url(after) == without_resume_url(before)
    if encoding is Encoding.ETF:
        unpacked = erlpack.unpack(after)
        assert unpacked["d"]["resume_gateway_url"] == PROXY_RESUME_URL.encode()
        assert unpacked["d"]["user"]["id"] == 272502210401665025  # a snowflake, an integer


def test_json_ready_with_spaces_is_re_encoded() -> None:
    before = orjson.loads(ready_message(ready_d(), Encoding.JSON))
    spaced = __import__("json").dumps(before, indent=1).encode()
    bot, _ = relay_session(Encoding.JSON, Compression.NONE, [spaced])
    (after,) = bot.messages
    assert orjson.loads(after)["d"]["resume_gateway_url"] == PROXY_RESUME_URL
    assert without_resume_url(after) == without_resume_url(spaced)


def test_etf_ready_with_binary_keys_is_spliced() -> None:
    """A client-style term (binary keys) splices too: the key is found as BINARY_EXT."""
    before = encode_etf({"op": 0, "s": 1, "t": "READY", "d": ready_d()}, style=EtfStyle.CLIENT)
    bot, _ = relay_session(Encoding.ETF, Compression.NONE, [before])
    (after,) = bot.messages
    assert len(after) == len(before) + len(PROXY_RESUME_URL) - len(REAL_RESUME_URL)
    assert decode_etf(after)["d"]["resume_gateway_url"] == PROXY_RESUME_URL
    assert without_resume_url(after) == without_resume_url(before)


@pytest.mark.parametrize("compress", COMPRESSIONS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_an_undecodable_message_is_delivered_and_reported(
    encoding: Encoding, compress: Compression
) -> None:
    junk = b'{"op": 0, "d": {"corrupt' if encoding is Encoding.JSON else bytes((131, 255, 7))
    messages = session_messages(encoding, count=3)
    messages.insert(4, junk)
    frames = upstream_frames(messages, encoding, compress)
    bot, events = relay_session(encoding, compress, frames)
    check_same_session(messages, bot.messages)  # the junk included, as it came
    failed = [e for e in events if isinstance(e, PacketEvent) and e.error is not None]
    assert len(failed) == 1
    (event,) = failed
    assert event.payload is None
    assert event.raw in (junk, junk.decode("latin-1"))
    assert event.dir is Direction.RECV
    assert event.error is not None
    assert event.error.frame == 5  # upstream's fifth frame on this connection
    assert event.error.offset is not None
    assert "frame 5:byte" in str(event.error)


@pytest.mark.parametrize("compress", [Compression.ZLIB_STREAM, Compression.ZSTD_STREAM])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_broken_inflate_stream_ends_the_bots_connection(
    encoding: Encoding, compress: Compression
) -> None:
    messages = session_messages(encoding, count=2)
    frames = upstream_frames(messages, encoding, compress)
    corrupt = (
        b"\xff\xff\xff" + bytes(range(24)) + b"\x00\x00\xff\xff"
        if compress is Compression.ZLIB_STREAM
        else b"\xff\xff\xff\xff" + bytes(range(24))
    )
    relay, events = relay_for(encoding, compress)
    for frame in frames[:3]:
        relay.from_upstream(frame)
    with pytest.raises(RelayBroken) as caught:
        relay.from_upstream(corrupt)
    assert caught.value.code == 4000  # the bot resumes
    assert isinstance(caught.value.error, InflateError)
    assert caught.value.error.frame == 4
    assert "frame 4" in str(caught.value)
    reported = events[-1]
    assert isinstance(reported, PacketEvent) and reported.error is caught.value.error
    assert not any(isinstance(e, WireEvent) and e.data is corrupt for e in events)
    assert relay.status == "reconnecting"
    with pytest.raises(RelayBroken):  # nothing more gets through this context
        relay.from_upstream(frames[3])


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_events_carry_what_the_bot_received(encoding: Encoding) -> None:
    messages = session_messages(encoding, count=3)
    frames = upstream_frames(messages, encoding, Compression.ZLIB_STREAM)
    bot, events = relay_session(encoding, Compression.ZLIB_STREAM, frames)
    open_event, *rest = events
    assert isinstance(open_event, WireEvent) and open_event.kind == "open"
    wires = [e for e in rest if isinstance(e, WireEvent)]
    packets = [e for e in rest if isinstance(e, PacketEvent)]
    assert [w.data for w in wires] == bot.frames
    assert [p.raw for p in packets] == bot.messages
    assert [p.payload for p in packets] == [decode_message(m) for m in bot.messages]
    assert all(p.dir is Direction.RECV and p.size == len(p.raw) for p in packets)
    assert [p.wire_size for p in packets] == [len(f) for f in bot.frames]


def test_non_dispatch_payloads_pass_and_odd_t_is_counted() -> None:
    relay, _ = relay_for(Encoding.JSON, Compression.NONE)
    odd = orjson.dumps({"op": 0, "s": 3, "t": [1, 2], "d": None})
    assert relay.from_upstream(odd) == [odd]
    assert relay.from_upstream(b"[1, 2]") == [b"[1, 2]"]
    assert relay.seq == 3
    assert relay.events == 1


ODD_VALUES: list[Any] = [None, True, 1.5, -1, "x", [], [1, [2]], {}, {"id": [1]}, [{"id": [1]}]]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_odd_payloads_pass_through_without_raising(encoding: Encoding) -> None:
    """Well-formed messages with the wrong shapes in every field the relay reads, both
    ways: all delivered unchanged, none raises. Bounded: 10 values x 9 payloads."""
    relay, _ = relay_for(encoding, Compression.ZLIB_STREAM)
    relay._resume_url_for = lambda url: url  # a str URL is taken as given: none changes
    bot = Bot(Compression.ZLIB_STREAM)
    deflater = make_deflater(Compression.ZLIB_STREAM)
    sent: list[bytes] = []
    for value in ODD_VALUES:
        payloads: list[dict[str, Any]] = [
            {"op": value, "d": value, "s": value, "t": value},
            {"op": 0, "s": 1, "t": "READY", "d": value},
            {"op": 0, "s": 1, "t": "READY", "d": {"guilds": value, "resume_gateway_url": value}},
            {"op": 0, "s": 1, "t": "READY", "d": {"guilds": [value], "session_id": value}},
            {
                "op": 0,
                "s": 1,
                "t": "READY",
                "d": {
                    "guilds": [{"id": value, "unavailable": True}, {"id": "1", "unavailable": True}]
                },
            },
            {"op": 0, "s": 1, "t": "GUILD_CREATE", "d": {"id": value}},
            {"op": 11, "d": value},
        ]
        for payload in payloads:
            message = (
                encode_etf(payload, style=EtfStyle.SERVER)
                if encoding is Encoding.ETF
                else orjson.dumps(payload)
            )
            sent.append(message)
            bot.receive(relay.from_upstream(deflater.frame(message)))
        for payload in ({"op": 2, "d": {"shard": value, "token": "t"}}, {"op": 6, "d": value}):
            message = encode_etf(payload) if encoding is Encoding.ETF else orjson.dumps(payload)
            assert relay.from_bot(message) == [message]
    assert bot.messages == sent
    snap = relay.snapshot()
    assert (snap.guilds_expected, snap.guilds_ready) == (2, 1)  # guild "1" still to come
