"""ShardMonitor over a real GatewaySession (no sockets, a fake clock): the counts come
from the session, the monitor adds wall-clock times, the rate, ping history and log."""

from __future__ import annotations

import random
from typing import Any

from birbctl.client.monitor import ShardMonitor
from birbctl.protocol.session import GatewaySession
from birbctl.protocol.wire import Compression, Encoding

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"
URL = "wss://gateway.example/"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeWs:
    """The part of Websocket a monitor reads, over a real session whose actions the test
    hands to the listeners."""

    def __init__(self, clock: Clock, compress: Any) -> None:
        self.session = GatewaySession(
            TOKEN,
            intents=513,
            gateway_url=URL,
            shard=(1, 3),
            clock=clock,
            rng=random.Random(1),
        )
        self.shard = (1, 3)
        self.url = URL
        self.encoding = Encoding.ETF
        self.compress = compress
        self.connection_number = 1
        self.listeners: list[Any] = []

    @property
    def status(self) -> Any:
        return self.session.status

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def pump(self) -> None:
        for action in self.session.actions():
            for listener in self.listeners:
                listener(self, action)


def test_the_snapshot_reads_the_sessions_counts() -> None:
    clock = Clock(1000.0)
    ws = FakeWs(clock, Compression.NONE)
    logged: list[Any] = []
    monitor = ShardMonitor(ws, clock=clock, on_log=logged.append)
    session = ws.session

    session.connect()
    session.connection_opened()
    session.receive_payload({"op": 10, "d": {"heartbeat_interval": 41250}})
    ready = {
        "v": 10,
        "session_id": "sess-1",
        "resume_gateway_url": "wss://resume.example",
        "guilds": [{"id": g, "unavailable": True} for g in ("1", "2", "3")],
        "user": {"id": "1", "username": "bot"},
    }
    session.receive_payload({"op": 0, "t": "READY", "s": 1, "d": ready})
    session.receive_payload({"op": 0, "t": "GUILD_CREATE", "s": 2, "d": {"id": "1"}})
    for seq in range(3, 8):
        session.receive_payload({"op": 0, "t": "MESSAGE_CREATE", "s": seq, "d": {}})
    clock.now += 5.0
    ws.pump()

    snap = monitor.snapshot()
    assert snap.events == session.counters.dispatches == 7
    assert dict(monitor.event_types) == {"READY": 1, "GUILD_CREATE": 1, "MESSAGE_CREATE": 5}
    assert (snap.guilds_ready, snap.guilds_expected) == (1, 3)
    assert snap.shard == (1, 3) and snap.seq == 7 and snap.session_id == "sess-1"
    assert snap.status == "waiting_for_guilds"
    assert snap.uptime == 5.0 and snap.events_per_s == 7 / 5.0
    assert (snap.encoding, snap.compress) == ("etf", None)  # NONE reads as null, as before
    assert monitor.last_trouble is None and not monitor.reached_ready
    # The log is the notifications' own lines (the session's reasons are its own words).
    assert [line.text.split(":")[0] for line in logged] == [
        "connecting (was idle)",
        "identifying (was connecting)",
        "waiting_for_guilds (was identifying)",
    ]
    assert {line.level for line in logged} == {"info"}

    session.receive_payload({"op": 9, "d": False})
    ws.pump()
    assert monitor.last_trouble == "session invalidated (resumable: false)"
    warned = [line for line in logged if line.level == "warn"]
    assert [line.text for line in warned] == ["session invalidated (resumable: false)"]
    assert monitor.snapshot().events == 7  # counts survive the lost session


def test_the_compression_is_the_query_value() -> None:
    for compress, shown in (
        (Compression.NONE, None),
        (Compression.ZLIB_STREAM, "zlib-stream"),
        (Compression.ZSTD_STREAM, "zstd-stream"),
    ):
        clock = Clock(0.0)
        assert ShardMonitor(FakeWs(clock, compress), clock=clock).snapshot().compress == shown
