"""GatewayRelay, what it reads off the traffic: the bot's shard, session, ping (fake
clock), seq, status, closes, the snapshot; and that no event ever holds the token."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import erlpack
import orjson
import pytest
from relay_streams import (
    GUILD_IDS,
    PROXY_RESUME_URL,
    TOKEN,
    Bot,
    FakeClock,
    relay_for,
    session_messages,
    upstream_frames,
)

from birbctl.capture.reader import read_capture
from birbctl.capture.writer import CaptureWriter
from birbctl.client.websocket import PacketEvent, WireEvent
from birbctl.codec.message import decode_message, encode_message
from birbctl.emulator.frames import PreparedDispatch, encode_payload
from birbctl.protocol.payloads import identify_payload, resume_payload
from birbctl.protocol.status import GatewayStatus
from birbctl.protocol.wire import Compression, Direction, Encoding
from birbctl.proxy.relay import GatewayRelay

S = GatewayStatus


def bot_frame(payload: dict[str, Any], encoding: Encoding) -> bytes | str:
    """A payload as a bot sends it: JSON text, ETF binary (erlpack, as bots pack it)."""
    if encoding is Encoding.JSON:
        return orjson.dumps(payload).decode()
    packed: bytes = erlpack.pack(payload)
    return packed


def identify(encoding: Encoding, shard: tuple[int, int] = (2, 4)) -> bytes | str:
    payload = identify_payload(
        TOKEN,
        intents=513,
        properties={"os": "linux", "browser": "birb", "device": "birb"},
        shard=shard,
        large_threshold=50,
        presence=None,
        compress=None,
    )
    return bot_frame(payload, encoding)


def up(relay: GatewayRelay, op: int, d: Any, encoding: Encoding) -> None:
    relay.from_upstream(
        upstream_frames([encode_payload(op, d, encoding)], encoding, Compression.NONE)[0]
    )


def dispatch(relay: GatewayRelay, t: str, d: Any, seq: int, encoding: Encoding) -> None:
    message = PreparedDispatch(t, d).message(encoding, seq)
    relay.from_upstream(upstream_frames([message], encoding, Compression.NONE)[0])


@pytest.mark.parametrize("encoding", list(Encoding))
def test_identify_labels_the_connection_and_passes_unchanged(encoding: Encoding) -> None:
    relay, _ = relay_for(encoding, Compression.ZLIB_STREAM)
    assert relay.shard is None
    frame = identify(encoding)
    out = relay.from_bot(frame)
    assert out == [frame] and out[0] is frame  # the token goes upstream as it came
    assert relay.shard == (2, 4)
    assert relay.status is S.IDENTIFYING
    assert relay.snapshot().shard == (2, 4)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_an_identify_without_a_shard_is_shard_0_of_1(encoding: Encoding) -> None:
    relay, _ = relay_for(encoding, Compression.NONE)
    payload = {"op": 2, "d": {"token": TOKEN, "intents": 513, "properties": {}}}
    relay.from_bot(bot_frame(payload, encoding))
    assert relay.shard == (0, 1)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_ping_is_the_bots_heartbeat_to_upstreams_ack(encoding: Encoding) -> None:
    clock = FakeClock()
    relay, _ = relay_for(encoding, Compression.NONE, clock=clock)
    up(relay, 10, {"heartbeat_interval": 41250}, encoding)
    for rtt in (0.0421, 0.0105):
        relay.from_bot(bot_frame({"op": 1, "d": None}, encoding))
        clock.now += rtt
        up(relay, 11, None, encoding)
        clock.now += 5
    up(relay, 11, None, encoding)  # an ACK without a heartbeat: no sample
    snap = relay.snapshot()
    assert snap.ping == pytest.approx(10.5, abs=1e-3)
    assert snap.ping_avg == pytest.approx((42.1 + 10.5) / 2, abs=1e-3)
    assert relay.latency.stats().samples == 2
    assert snap.last_ack_age == 0.0
    clock.now += 2
    assert relay.snapshot().last_ack_age == pytest.approx(2.0)


def test_seq_events_and_guilds() -> None:
    enc = Encoding.JSON
    clock = FakeClock()
    relay, _ = relay_for(enc, Compression.NONE, clock=clock, url="wss://gateway.discord.gg")
    for message in session_messages(enc, count=10):
        relay.from_upstream(message.decode())
        clock.now += 0.1
    snap = relay.snapshot()
    assert snap.seq == 13  # READY, two GUILD_CREATEs, ten MESSAGE_CREATEs
    assert snap.events == 13
    assert relay.dispatches == {"READY": 1, "GUILD_CREATE": 2, "MESSAGE_CREATE": 10}
    assert snap.guilds_expected == len(GUILD_IDS) and snap.guilds_ready == len(GUILD_IDS)
    assert snap.session_id == "f97bdc3210d0da33a3c61d8363e68579"
    assert snap.url == "wss://gateway.discord.gg"
    assert (snap.encoding, snap.compress) == ("json", None)
    assert snap.events_per_s == pytest.approx(13 / snap.uptime, rel=0.2)
    assert relay.real_resume_url == "wss://gateway-us-east1-b.discord.gg"


def test_status_through_identify_op7_resume_op9_and_closes() -> None:
    enc = Encoding.JSON
    relay, _ = relay_for(enc, Compression.NONE)
    seen = [relay.status]
    up(relay, 10, {"heartbeat_interval": 41250}, enc)
    seen.append(relay.status)
    relay.from_bot(identify(enc))
    seen.append(relay.status)
    dispatch(relay, "READY", {"session_id": "abc", "resume_gateway_url": "x"}, 1, enc)
    seen.append(relay.status)
    up(relay, 7, None, enc)
    seen.append(relay.status)
    relay.bot_closed(4000, "reconnect")
    relay.upstream_closed(4000, "reconnect")  # the echo: the bot closed first
    seen.append(relay.status)
    assert seen == [
        S.CONNECTING,
        S.CONNECTING,
        S.IDENTIFYING,
        S.READY,
        S.RECONNECTING,
        S.RECONNECTING,
    ]
    assert relay.closed is not None and (relay.closed.by, relay.closed.code) == ("bot", 4000)
    assert [c.by for c in relay.closes] == ["bot", "upstream"]

    # The bot's next connection resumes; op 9 sends it away again.
    relay, _ = relay_for(enc, Compression.NONE)
    up(relay, 10, {"heartbeat_interval": 41250}, enc)
    relay.from_bot(bot_frame(resume_payload(TOKEN, "abc", 1), enc))
    assert relay.status is S.RESUMING and relay.session_id == "abc"
    dispatch(relay, "RESUMED", None, 2, enc)
    assert relay.status is S.READY and relay.snapshot().resumes == 1
    up(relay, 9, False, enc)
    assert relay.status is S.RECONNECTING
    relay.bot_closed(1000, "")  # after op 9 a 1000 is the bot starting afresh
    assert relay.status is S.RECONNECTING


@pytest.mark.parametrize(
    ("who", "code", "status"),
    [
        ("upstream", 4004, S.DISCONNECTED),  # fatal: the bot cannot come back
        ("upstream", 4014, S.DISCONNECTED),
        ("upstream", 1001, S.RECONNECTING),
        ("upstream", None, S.RECONNECTING),  # lost without a close frame
        ("upstream", 4009, S.RECONNECTING),  # identify afresh
        ("bot", 1000, S.DISCONNECTED),  # the bot ended its session
        ("bot", 4000, S.RECONNECTING),
        ("bot", None, S.RECONNECTING),
    ],
)
def test_who_closed_with_which_code(who: str, code: int | None, status: GatewayStatus) -> None:
    enc = Encoding.JSON
    relay, events = relay_for(enc, Compression.NONE)
    relay.from_bot(identify(enc))
    dispatch(relay, "READY", {"session_id": "abc"}, 1, enc)
    (relay.upstream_closed if who == "upstream" else relay.bot_closed)(code, "why")
    assert relay.status is status
    assert relay.closed is not None and (relay.closed.by, relay.closed.code) == (who, code)
    close = events[-1]
    assert isinstance(close, WireEvent) and close.kind == "close"
    assert (close.dir, close.code, close.data) == (
        Direction.RECV if who == "upstream" else Direction.SEND,
        code,
        "why",
    )
    up(relay, 11, None, enc)  # late frames change nothing
    assert relay.status is status


def holds_token(value: Any) -> bool:
    """Whether the token is anywhere in `value`: its repr, and every field all the way
    down (bytes searched as bytes, so ETF binaries count)."""
    token = TOKEN.encode()
    if isinstance(value, bytes | bytearray):
        return token in value
    if isinstance(value, str):
        return TOKEN in value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(holds_token(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return any(holds_token(k) or holds_token(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(holds_token(v) for v in value)
    return TOKEN in repr(value)


@pytest.mark.parametrize("compress", list(Compression))
@pytest.mark.parametrize("encoding", list(Encoding))
def test_the_token_is_in_no_event(encoding: Encoding, compress: Compression) -> None:
    relay, events = relay_for(encoding, compress)
    messages = session_messages(encoding, count=3)
    frames = upstream_frames(messages, encoding, compress)
    relay.from_upstream(frames[0])
    sent = [
        identify(encoding),
        bot_frame(resume_payload(TOKEN, "abc", 3), encoding),
        bot_frame({"op": 1, "d": 3}, encoding),
        # Undecodable, token inside: never shown at all.
        f'{{"op": 2, "d": {{"token": "{TOKEN}"' if encoding is Encoding.JSON
        else b"\x83t\x00\x00\x00\x01m\x00\x00\x00\x05tokenm" + TOKEN.encode(),
    ]  # fmt: skip
    for frame in sent:
        assert relay.from_bot(frame) == [frame]
    for frame in frames[1:]:
        relay.from_upstream(frame)
    relay.bot_closed(4000, "bye")
    ends = ("open", "close")
    sends = [
        e
        for e in events
        if e.dir is Direction.SEND and not (isinstance(e, WireEvent) and e.kind in ends)
    ]
    assert len(sends) == 2 * len(sent)  # a wire event and a packet event per bot frame
    assert holds_token(sent)  # the scan finds it where it is
    for event in events:
        assert not holds_token(event), event
        assert TOKEN not in repr(event)
    packets = [e for e in sends if isinstance(e, PacketEvent)]
    assert packets[0].payload["d"]["token"] == "[REDACTED]"
    assert packets[0].payload["d"]["shard"] == [2, 4]
    assert packets[-1].payload is None and packets[-1].error is not None
    assert packets[-1].raw == b""
    assert [e.data for e in sends if isinstance(e, WireEvent)][-1] is None
    assert TOKEN not in repr(relay.__dict__)


@pytest.mark.parametrize("compress", list(Compression))
@pytest.mark.parametrize("encoding", list(Encoding))
def test_a_capture_of_the_events_decodes_to_what_the_bot_received(
    encoding: Encoding, compress: Compression, tmp_path: Path
) -> None:
    """--record: the events written with CaptureWriter read back as the bot's messages,
    both directions, with no token in the file."""
    path = tmp_path / "proxy.birbcap"
    writer = CaptureWriter(path, url="ws://127.0.0.1:1/", encoding=encoding, compress=compress)
    relay, events = relay_for(encoding, compress, conn=1)
    bot = Bot(compress)
    frames = upstream_frames(session_messages(encoding, count=4), encoding, compress)
    bot.receive(relay.from_upstream(frames[0]))
    relay.from_bot(identify(encoding))
    for frame in frames[1:]:
        bot.receive(relay.from_upstream(frame))
    relay.upstream_closed(1001, "going away")
    for event in events:
        if isinstance(event, WireEvent):
            if event.kind == "open":
                writer.opened(event.conn, shard=relay.shard, t=event.ts)
            elif event.kind == "close":
                writer.closed(event.conn, event.code, str(event.data), direction=event.dir)
            elif event.data is not None:
                writer.frame(event.conn, event.dir, event.data, t=event.ts)
    writer.close()
    with path.open("rb") as fh:
        read = list(read_capture(fh))
    received = [m.payload for m in read if m.direction == "recv"]
    assert received == [decode_message(m) for m in bot.messages]
    assert received[1]["d"]["resume_gateway_url"] == PROXY_RESUME_URL
    (sent,) = [m.payload for m in read if m.direction == "send"]
    assert sent["op"] == 2 and sent["d"]["token"] == "[REDACTED]"
    assert TOKEN.encode() not in path.read_bytes()


def test_the_bots_etf_identify_redacted_still_decodes() -> None:
    relay, events = relay_for(Encoding.ETF, Compression.NONE)
    relay.from_bot(identify(Encoding.ETF))
    wire = next(e for e in events if isinstance(e, WireEvent) and e.kind == "binary")
    assert isinstance(wire.data, bytes)
    assert erlpack.unpack(wire.data)[b"d"][b"token"] == b"[REDACTED]"
    assert encode_message({"op": 1}, Encoding.ETF)  # the encoder the views use is there
