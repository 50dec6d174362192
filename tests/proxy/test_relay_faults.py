"""The relay's side of the proxy's faults, without a socket or a sleep: what it injects
reaches the bot in its own stream, held ACKs and stalled messages come out late and in
order, swallowed ACKs never come; and the fault plan fires each step at its point."""

from __future__ import annotations

from typing import Any

import pytest
from relay_streams import Bot, FakeClock, relay_for, session_messages, upstream_frames

from birbctl.client.websocket import PacketEvent
from birbctl.codec.message import decode_message
from birbctl.emulator.faults import parse_fault_flag
from birbctl.protocol.wire import Compression, Direction, Encoding
from birbctl.proxy.faults import FaultPlan

ENCODINGS = list(Encoding)
COMPRESSIONS = list(Compression)


def ops(bot: Bot) -> list[Any]:
    return [decode_message(m)["op"] for m in bot.messages]


def heads(message: bytes) -> tuple[Any, Any, Any]:
    payload = decode_message(message)
    return (payload["op"], payload["t"], payload["s"])


@pytest.mark.parametrize("compress", COMPRESSIONS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_injected_payloads_join_the_bots_stream(encoding: Encoding, compress: Compression) -> None:
    relay, events = relay_for(encoding, compress)
    bot = Bot(compress)
    frames = upstream_frames(session_messages(encoding, 3), encoding, compress)
    bot.receive(relay.from_upstream(frames[0]))  # HELLO
    bot.receive(relay.inject(1, None))
    bot.receive(relay.from_upstream(frames[1]))  # READY
    bot.receive(relay.inject(9, True))
    bot.receive(relay.inject(7, None))
    assert [decode_message(m) for m in bot.messages[1::2]] == [
        {"op": 1, "d": None, "s": None, "t": None},
        {"op": 9, "d": True, "s": None, "t": None},
    ]
    assert ops(bot)[-1] == 7
    assert relay.status.value == "reconnecting"
    # Uncompressed JSON goes as a text frame, like upstream's own.
    assert isinstance(bot.frames[1], str) == (
        encoding is Encoding.JSON and compress is Compression.NONE
    )
    shown = [e.payload["op"] for e in events if isinstance(e, PacketEvent) and e.payload]
    assert shown == [10, 1, 0, 9, 7]  # the capture holds what the bot received


@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_a_corrupt_frame_is_what_the_bots_decoder_rejects(compress: Compression) -> None:
    from birbctl.errors import DecodeError

    relay, events = relay_for(Encoding.JSON, compress)
    [frame] = relay.corrupt(bytes(range(24)))
    bot = Bot(compress)
    with pytest.raises((DecodeError, ValueError)):
        bot.receive([frame])
        decode_message(bot.messages[-1])
    assert events == []  # no payload to record


def ack_session(encoding: Encoding, compress: Compression) -> tuple[list[Any], list[bytes]]:
    messages = session_messages(encoding, 10)  # HELLO, READY, 2 GUILD_CREATE, 10 MC, 2 ACKs, op 7
    return upstream_frames(messages, encoding, compress), messages


@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_delayed_acks_come_late_and_let_dispatches_pass(compress: Compression) -> None:
    clock = FakeClock()
    relay, _ = relay_for(Encoding.JSON, compress, clock=clock)
    relay.delay_acks(50)
    bot = Bot(compress)
    frames, messages = ack_session(Encoding.JSON, compress)
    for frame in frames:
        bot.receive(relay.from_upstream(frame))
    sent = [decode_message(m)["op"] for m in messages]
    assert ops(bot) == [op for op in sent if op != 11]  # both ACKs wait
    assert relay.next_release == pytest.approx(clock.now + 0.05)
    assert relay.release(clock.now + 0.049) == []
    clock.now += 0.05
    bot.receive(relay.release())
    assert ops(bot)[-2:] == [11, 11]
    assert relay.next_release is None


@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_swallowed_acks_never_reach_the_bot_but_ping_is_measured(compress: Compression) -> None:
    clock = FakeClock()
    relay, _ = relay_for(Encoding.JSON, compress, clock=clock)
    relay.swallow_acks()
    frames, messages = ack_session(Encoding.JSON, compress)
    bot = Bot(compress)
    relay.from_bot('{"op":1,"d":null}')
    clock.now += 0.02
    for frame in frames:
        bot.receive(relay.from_upstream(frame))
    assert 11 not in ops(bot) and relay.acks_swallowed == 2
    assert len(bot.messages) == len(messages) - 2
    assert relay.latency.stats().last == pytest.approx(20.0)


@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_a_stall_holds_everything_then_delivers_it_in_order(compress: Compression) -> None:
    clock = FakeClock()
    relay, _ = relay_for(Encoding.ETF, compress, clock=clock)
    frames, messages = ack_session(Encoding.ETF, compress)
    bot = Bot(compress)
    bot.receive(relay.from_upstream(frames[0]))
    relay.stall(2.0)
    relay.delay_acks(3000)  # an ACK held past the stall goes after it
    for frame in frames[1:]:
        bot.receive(relay.from_upstream(frame))
        clock.now += 0.1
    assert len(bot.messages) == 1
    clock.now = relay.next_release or 0.0
    bot.receive(relay.release())
    without_acks = [m for m in messages if decode_message(m)["op"] != 11]
    assert [heads(m) for m in bot.messages] == [heads(m) for m in without_acks]
    clock.now += 5
    bot.receive(relay.release())
    assert ops(bot)[-2:] == [11, 11]


def test_held_messages_are_forgotten_once_detached_and_never_reported() -> None:
    clock = FakeClock()
    relay, events = relay_for(Encoding.JSON, Compression.ZLIB_STREAM, clock=clock)
    frames, _ = ack_session(Encoding.JSON, Compression.ZLIB_STREAM)
    relay.delay_acks(100)
    for frame in frames:
        relay.from_upstream(frame)
    reported = len(events)
    assert relay.next_release is not None
    assert relay.discard_held() == 2
    clock.now += 1
    assert relay.release() == [] and relay.next_release is None and len(events) == reported


class Traffic:
    """A connection's traffic as the server reports it to ConnectionFaults."""

    def __init__(self, plan: FaultPlan, clock: FakeClock) -> None:
        self.faults = plan.connection(lambda: clock.now)
        self.struck: list[str] = []

    def note(self, strikes: list[Any]) -> None:
        self.struck += [f"{s.trigger}:{s.fault.describe()}" for s in strikes]


def test_handshake_points_fire_where_the_emulator_fires_them() -> None:
    clock = FakeClock()
    plan = FaultPlan(
        [
            parse_fault_flag("on=connect action=drop"),
            parse_fault_flag("on=hello action=reconnect times=2"),
            parse_fault_flag("on=identify action=invalid_session"),
            parse_fault_flag("on=resume action=close code=4000"),
            parse_fault_flag("on=hello delay=1.5 action=close code=4003"),
        ],
        seed=1,
    )
    first = Traffic(plan, clock)
    first.note(first.faults.opened())
    first.note(first.faults.upstream(10, None, None))  # HELLO reached the bot
    first.note(first.faults.bot(2))  # IDENTIFY
    first.note(first.faults.bot(1))  # a heartbeat: no point
    assert first.struck == [
        "connect:drop",
        "hello:reconnect",
        "identify:invalid_session resumable=false",
    ]
    # The delayed hello step: only where no IDENTIFY/RESUME came within its delay.
    second = Traffic(plan, clock)
    second.note(second.faults.opened())  # `times` of connect was 1: spent
    second.note(second.faults.upstream(10, None, None))
    assert second.faults.next_deadline() == pytest.approx(clock.now + 1.5)
    clock.now += 1.5
    second.note(second.faults.due())
    second.note(second.faults.bot(6))
    assert second.struck == ["hello:reconnect", "hello:close code=4003", "resume:close code=4000"]
    assert first.faults.due() == []  # it identified in time


def test_timeline_steps_fire_once_per_session_across_resumes() -> None:
    clock = FakeClock()
    plan = FaultPlan(
        [
            parse_fault_flag("at=10 action=reconnect"),
            parse_fault_flag("after_events=3 action=zombie"),
        ]
    )
    first = Traffic(plan, clock)
    first.note(first.faults.upstream(0, "READY", "s1"))
    assert first.faults.next_deadline() == pytest.approx(clock.now + 10)
    for _ in range(3):
        first.note(first.faults.upstream(0, "MESSAGE_CREATE", "s1"))
    assert first.struck == ["after_events:zombie"]
    clock.now += 4
    # The bot resumed on a new connection: the session keeps its place (6 s to go).
    second = Traffic(plan, clock)
    second.note(second.faults.upstream(0, "RESUMED", "s1"))
    assert second.faults.next_deadline() == pytest.approx(clock.now + 6)
    for _ in range(5):
        second.note(second.faults.upstream(0, "MESSAGE_CREATE", "s1"))
    clock.now += 6
    second.note(second.faults.due())
    assert second.struck == ["at:reconnect"]
    assert second.faults.due() == [] and second.faults.next_deadline() is None
    # Another session starts from its own READY.
    third = Traffic(plan, clock)
    third.note(third.faults.upstream(0, "READY", "s2"))
    assert third.faults.next_deadline() == pytest.approx(clock.now + 10)


def test_directions_of_injected_events_are_the_bots_receive() -> None:
    relay, events = relay_for(Encoding.JSON, Compression.ZLIB_STREAM)
    relay.inject(7, None)
    assert {e.dir for e in events if isinstance(e, PacketEvent)} == {Direction.RECV}


def test_corrupt_bytes_repeat_with_the_seed_and_leave_the_draws_alone() -> None:
    """`--seed` repeats a run's corrupt frames too; drawing them does not shift which
    connections a `probability` step strikes."""
    step = parse_fault_flag("on=connect action=drop probability=0.5")

    def run(seed: int, corrupt_first: bool) -> tuple[list[bytes], list[int]]:
        plan = FaultPlan([step], seed=seed)
        junk = [plan.junk(24) for _ in range(3)] if corrupt_first else []
        clock = FakeClock()
        struck = [i for i in range(40) if Traffic(plan, clock).faults.opened()]
        return junk, struck

    junk, struck = run(7, corrupt_first=True)
    assert run(7, corrupt_first=True) == (junk, struck)
    assert run(7, corrupt_first=False)[1] == struck  # the draws did not move
    assert run(8, corrupt_first=True)[0] != junk
    assert len(junk[0]) == 24 and len(set(junk)) == 3
    assert 0 < len(struck) < 40
