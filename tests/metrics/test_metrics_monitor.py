"""What the monitor counts for `--metrics`, over a real GatewaySession driven by hand
(no sockets, a fake clock): reconnects by the session's own reason, closes by code and
side, decode errors, every round trip in the histogram."""

from __future__ import annotations

import random
from typing import Any

import pytest

from birbctl.client.monitor import ShardMonitor
from birbctl.metrics.histogram import RTT_BUCKETS
from birbctl.metrics.labels import REASON_LABELS
from birbctl.protocol.session import GatewaySession
from birbctl.protocol.wire import Compression, Encoding

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"
URL = "wss://gateway.example/"
HELLO = {"op": 10, "d": {"heartbeat_interval": 1000}}
READY = {
    "op": 0, "t": "READY", "s": 1,
    "d": {"session_id": "s1", "resume_gateway_url": URL, "guilds": []},
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Shard:
    """A session, the monitor listening to it, and the driver's side done by hand."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.session = GatewaySession(
            TOKEN, intents=513, gateway_url=URL, shard=(2, 4), clock=self.clock,
            rng=random.Random(1),
        )  # fmt: skip
        self.shard = (2, 4)
        self.url = URL
        self.encoding = Encoding.JSON
        self.compress = Compression.NONE
        self.connection_number = 1
        self.listeners: list[Any] = []
        self.monitor = ShardMonitor(self, clock=self.clock)

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def pump(self) -> list[Any]:
        actions = self.session.actions()
        for action in actions:
            for listener in self.listeners:
                listener(self, action)
        return actions

    def ready(self) -> None:
        session = self.session
        if session.status.value in ("idle", "disconnected"):
            session.connect()
        else:
            self.clock.now += 60
            session.tick()  # the backoff's wait is over: open
        session.connection_opened()
        session.receive_payload(HELLO)
        if session.session_id is None:
            session.receive_payload(READY)
        else:
            session.receive_payload({"op": 0, "t": "RESUMED", "s": 2, "d": {}})
        self.pump()

    def closed(self, code: int | None) -> None:
        self.session.connection_closed(code, "")
        self.pump()

    def reasons(self) -> dict[str, int]:
        return dict(self.monitor.metrics_sample().reconnects)

    def closes(self) -> dict[tuple[str, str], int]:
        return dict(self.monitor.metrics_sample().closes)


def test_op7_is_our_close_and_an_op7_reconnect() -> None:
    shard = Shard()
    shard.ready()
    shard.session.receive_payload({"op": 7, "d": None})
    shard.pump()
    shard.closed(4000)  # the gateway echoes our close
    assert shard.reasons() == {"op7": 1}
    assert shard.closes() == {("4000", "client"): 1}
    assert shard.monitor.snapshot().last_close == "4000 by client"
    shard.ready()
    assert shard.monitor.metrics_sample().snapshot.resumes == 1


@pytest.mark.parametrize(("code", "label"), [(4000, "4000"), (None, "none"), (4321, "other")])
def test_the_gateways_close_is_the_servers_side(code: int | None, label: str) -> None:
    shard = Shard()
    shard.ready()
    shard.closed(code)
    assert shard.reasons() == {"gateway_close": 1}
    assert shard.closes() == {(label, "server"): 1}
    said = "dropped by server" if code is None else f"{code} by server"
    assert shard.monitor.snapshot().last_close == said


def test_a_fatal_close_counts_on_the_servers_side_without_a_reconnect() -> None:
    shard = Shard()
    shard.ready()
    shard.closed(4004)
    assert shard.reasons() == {}
    assert shard.closes() == {("4004", "server"): 1}


def test_a_connection_that_never_opened_is_no_close() -> None:
    shard = Shard()
    shard.session.connect()
    shard.pump()
    shard.session.connection_failed("connection refused")
    shard.pump()
    assert shard.reasons() == {"connect_failed": 1}
    assert shard.closes() == {}
    assert shard.monitor.metrics_sample().failed_connections == 1


def test_user_reconnect_and_terminate_are_the_clients_side() -> None:
    shard = Shard()
    shard.ready()
    shard.session.reconnect(True)
    shard.pump()
    shard.closed(4000)
    shard.ready()
    shard.session.terminate()
    shard.pump()
    shard.closed(None)
    assert shard.reasons() == {"user": 2}
    assert shard.closes() == {("4000", "client"): 1, ("none", "client"): 1}
    assert shard.monitor.snapshot().last_close == "dropped by client"


def test_zombie_hello_timeout_invalid_session_and_decode_errors_by_reason() -> None:
    shard = Shard()
    shard.ready()
    for _ in range(3):  # a beat goes out, its ACK never comes, the next beat is due
        shard.clock.now += 1.0
        shard.session.tick()
        shard.pump()
    shard.closed(4000)
    assert shard.reasons() == {"zombie": 1}

    shard.clock.now += 60
    shard.session.tick()
    shard.session.connection_opened()
    shard.clock.now += 60  # no HELLO
    shard.session.tick()
    shard.pump()
    shard.closed(4000)
    assert shard.reasons() == {"zombie": 1, "hello_timeout": 1}

    shard.ready()
    shard.session.receive_error("bad zlib stream")
    shard.pump()
    shard.closed(4000)
    shard.ready()
    shard.session.receive_payload({"op": 9, "d": False})
    shard.pump()
    shard.closed(4000)
    sample = shard.monitor.metrics_sample()
    assert dict(sample.reconnects) == {
        "zombie": 1, "hello_timeout": 1, "protocol_error": 1, "invalid_session": 1,
    }  # fmt: skip
    assert set(sample.reconnects) <= set(REASON_LABELS)
    assert sample.decode_errors == 1 and sample.protocol_errors == 1
    assert all(side == "client" for _, side in sample.closes)


def test_every_round_trip_lands_in_the_histogram() -> None:
    shard = Shard()
    shard.ready()
    for rtt in (0.0005, 0.05, 0.05, 0.2, 30.0):
        shard.clock.now += 1.0
        shard.session.heartbeat()
        shard.clock.now += rtt
        shard.session.receive_payload({"op": 11})
        shard.pump()
    rtt = shard.monitor.metrics_sample().rtt
    assert rtt.count == 5 and rtt.sum == pytest.approx(30.3005)
    assert rtt.bounds == RTT_BUCKETS and RTT_BUCKETS[0] == 0.001 and RTT_BUCKETS[-1] == 10.0
    cumulative = dict(rtt.cumulative())
    assert cumulative["0.001"] == 1
    assert cumulative["0.04"] == 1 and cumulative["0.06"] == 3  # 50 ms sits mid-bucket
    assert cumulative["0.25"] == 4 and cumulative["10.0"] == 4 and cumulative["+Inf"] == 5


def test_sends_the_rate_limit_held_back_reach_the_sample() -> None:
    shard = Shard()
    shard.ready()
    assert shard.monitor.metrics_sample().limiter_waits == 0
    for n in range(120):  # more than a 60 s window takes, whatever HELLO's interval
        shard.session.send({"op": 3, "d": {"n": n}})
    shard.pump()
    sample = shard.monitor.metrics_sample()
    assert sample.limiter_waits == sample.send_queue > 0  # every one still queued was held


@pytest.mark.parametrize("kept", [False, True])
def test_readers_count_bytes_and_the_meter_adds_them_over_connections(kept: bool) -> None:
    import orjson

    from birbctl.client.monitor import ByteMeter
    from birbctl.errors import DecodeError
    from birbctl.transport.deflate import ZlibStreamDeflater

    messages = [orjson.dumps({"op": 0, "t": "X", "s": n, "d": {"é": "x" * n}}) for n in range(50)]
    deflater = ZlibStreamDeflater()
    frames = [deflater.frame(m) for m in messages]
    split = frames[7]
    frames[7:8] = [split[:5], split[5:]]  # a message over two frames
    meter = ByteMeter()
    first = meter.reader(Encoding.JSON, Compression.ZLIB_STREAM)
    feed = first.feed_kept if kept else first.feed
    assert [feed(f) for f in frames][-1] == orjson.loads(messages[-1])
    assert meter.received == first.received_bytes == sum(map(len, frames))
    assert meter.inflated == first.inflated_bytes == sum(map(len, messages))

    # A reconnect: the next connection's reader, text frames; the first one's bytes stay.
    text = meter.reader(Encoding.JSON, Compression.NONE)
    feed = text.feed_kept if kept else text.feed
    lines = ['{"op":11,"d":"é ☃ 🐦"}', '{"op":11,"d":"\ud83d"}']
    assert feed(lines[0]) == {"op": 11, "d": "é ☃ 🐦"}
    with pytest.raises(DecodeError, match="frame 2"):  # a lone surrogate: counted all the same
        feed(lines[1])
    size = sum(len(line.encode("utf-8", "surrogatepass")) for line in lines)
    assert text.received_bytes == text.inflated_bytes == size
    assert meter.received == sum(map(len, frames)) + size
    assert meter.inflated == sum(map(len, messages)) + size
