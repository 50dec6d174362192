"""The per-connection gateway rules without sockets or time passing: feed messages and a
clock to GatewayConnection, read the actions it queues."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from birbctl.emulator.client_etf import has_atom_keys
from birbctl.emulator.config import EmulatorConfig
from birbctl.emulator.faults import parse_fault, parse_fault_flag
from birbctl.emulator.frames import PreparedDispatch
from birbctl.emulator.gateway import (
    BadQuery,
    CloseConnection,
    ConnectParams,
    DropConnection,
    GatewayConnection,
    GatewayContext,
    SendFrame,
    parse_connect_query,
)
from birbctl.emulator.snowflake import SnowflakeFactory, snowflake_ms
from birbctl.emulator.world import World, bot_id_from_token
from birbctl.protocol.wire import Compression, Encoding

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"


def make(**config: Any) -> tuple[GatewayContext, GatewayConnection]:
    options: dict[str, Any] = {"guilds": 2, "seed": 1, "heartbeat_interval_ms": 10_000}
    options.update(config)
    ctx = GatewayContext(EmulatorConfig(**options), resume_url="ws://127.0.0.1:1")
    conn = GatewayConnection(ctx, ConnectParams(10, "json", Compression.NONE), now=0.0)
    return ctx, conn


def payloads(conn: GatewayConnection) -> list[Any]:
    out = []
    for action in conn.actions():
        if isinstance(action, SendFrame):
            out.append(orjson.loads(action.data))
        else:
            out.append(action)
    return out


def identify(conn: GatewayConnection, now: float = 0.0) -> list[Any]:
    d = {"token": TOKEN, "intents": 513, "properties": {}}
    conn.receive(orjson.dumps({"op": 2, "d": d}).decode(), now)
    return payloads(conn)


def test_hello_then_ready_then_guilds() -> None:
    _, conn = make()
    assert [p["op"] for p in payloads(conn)] == [10]
    out = identify(conn)
    assert [p["t"] for p in out] == ["READY", "GUILD_CREATE", "GUILD_CREATE"]
    assert [p["s"] for p in out] == [1, 2, 3]


def test_dispatch_numbering_continues_per_session() -> None:
    _, conn = make()
    payloads(conn)
    identify(conn)
    session = conn.record
    assert session is not None
    event = PreparedDispatch("MESSAGE_CREATE", {"id": "1"}, intent=1 << 9, synthetic=True)
    for _ in range(3):
        session.dispatch(event)
    assert [p["s"] for p in payloads(conn)] == [4, 5, 6]
    typing = PreparedDispatch("TYPING_START", {}, intent=1 << 11)  # not in intents 513
    session.dispatch(typing)
    assert payloads(conn) == [] and session.seq == 6


def test_heartbeat_timeout_is_a_deadline() -> None:
    _, conn = make(heartbeat_interval_ms=1000, heartbeat_grace=1.5)
    payloads(conn)
    assert conn.next_deadline() == pytest.approx(1.5)
    conn.tick(1.4)
    assert payloads(conn) == []
    conn.receive('{"op": 1, "d": null}', 1.4)
    assert payloads(conn)[0]["op"] == 11
    conn.tick(3.0)
    assert payloads(conn) == [CloseConnection(4000, "heartbeat timeout")]


def test_ack_delay_and_zombie() -> None:
    _, conn = make()
    payloads(conn)
    conn.inject(parse_fault({"action": "ack_delay", "ms": 500}), 0.0)
    conn.receive('{"op": 1, "d": null}', 1.0)
    assert payloads(conn) == []
    assert conn.next_deadline() == pytest.approx(1.5)
    conn.tick(1.5)
    assert payloads(conn)[0]["op"] == 11
    conn.inject(parse_fault({"action": "zombie"}), 2.0)
    conn.receive('{"op": 1, "d": null}', 2.0)
    conn.tick(2.5)
    assert payloads(conn) == []


def test_stall_holds_frames_in_order() -> None:
    _, conn = make()
    payloads(conn)
    conn.inject(parse_fault({"action": "stall", "seconds": 2}), 0.0)
    conn.receive('{"op": 1, "d": null}', 0.5)
    conn.tick(0.5)
    assert payloads(conn) == []
    conn.tick(2.0)
    assert [p["op"] for p in payloads(conn)] == [11]


def test_at_step_fires_once_at_its_time() -> None:
    steps = (parse_fault_flag("at=5 action=reconnect"),)
    _, conn = make(steps=steps, heartbeat_interval_ms=100_000)
    payloads(conn)
    identify(conn, now=10.0)
    assert conn.next_deadline() == pytest.approx(15.0)
    conn.tick(15.0)
    assert [p["op"] for p in payloads(conn)] == [7]
    conn.tick(16.0)
    assert payloads(conn) == []


def test_invalid_session_false_forgets_the_session() -> None:
    ctx, conn = make()
    payloads(conn)
    identify(conn)
    session = conn.record
    assert session is not None
    conn.inject(parse_fault({"action": "invalid_session"}), 1.0)
    assert payloads(conn)[0] == {"op": 9, "d": False, "s": None, "t": None}
    assert ctx.records.get(session.id) is None and conn.record is None
    assert next(p["t"] for p in identify(conn)) == "READY"  # may identify again


def test_drop_and_client_close_codes() -> None:
    ctx, conn = make()
    payloads(conn)
    identify(conn)
    session = conn.record
    assert session is not None
    conn.inject(parse_fault({"action": "drop"}), 1.0)
    assert payloads(conn) == [DropConnection()]
    conn.connection_lost(None, 1.0)
    assert ctx.records.get(session.id) is session and session.connection is None


@pytest.mark.parametrize(("code", "kept"), [(1000, False), (1001, False), (4000, True)])
def test_client_close_code_decides_the_session(code: int, kept: bool) -> None:
    ctx, conn = make()
    payloads(conn)
    identify(conn)
    session = conn.record
    assert session is not None
    conn.connection_lost(code, 1.0)
    assert (ctx.records.get(session.id) is not None) is kept


@pytest.mark.parametrize(
    ("path", "encoding", "compress"),
    [
        ("/?v=10", "json", Compression.NONE),
        ("/?v=10&encoding=etf&compress=", "etf", Compression.NONE),
        ("/?v=10&encoding=xml&compress=zlib-stream", "xml", Compression.ZLIB_STREAM),
        ("/?v=10&compress=zstd-stream", "json", Compression.ZSTD_STREAM),
    ],
)
def test_connect_query(path: str, encoding: str, compress: Compression) -> None:
    assert parse_connect_query(path) == ConnectParams(10, encoding, compress)


@pytest.mark.parametrize("word", ["none", "gzip", "ZLIB-STREAM"])
def test_a_compression_the_gateway_does_not_offer_is_a_bad_query(word: str) -> None:
    """HTTP 400 before the upgrade; "none" too, since Discord's query never says it."""
    message = f"compress must be zlib-stream or zstd-stream, got '{word}'"
    with pytest.raises(BadQuery, match=message):
        parse_connect_query(f"/?v=10&compress={word}")


def test_an_unknown_encoding_is_closed_with_4002_after_the_upgrade() -> None:
    ctx = GatewayContext(EmulatorConfig(guilds=1, seed=1), resume_url="ws://127.0.0.1:1")
    conn = GatewayConnection(ctx, ConnectParams(10, "xml", Compression.NONE), now=0.0)
    assert conn.actions() == [CloseConnection(4002, "invalid encoding 'xml'")]


@pytest.mark.parametrize(
    ("compress", "shown"),
    [
        (Compression.NONE, None),
        *[(c, str(c)) for c in (Compression.ZLIB_STREAM, Compression.ZSTD_STREAM)],
    ],
)
def test_admin_listing_says_compress_as_the_query_did(
    compress: Compression, shown: str | None
) -> None:
    """The admin JSON keeps null for no compression (what it always said)."""
    ctx = GatewayContext(EmulatorConfig(guilds=1, seed=1), resume_url="ws://127.0.0.1:1")
    conn = GatewayConnection(ctx, ConnectParams(10, "etf", compress), now=0.0)
    described = orjson.loads(orjson.dumps(conn.describe()))
    assert (described["encoding"], described["compress"]) == ("etf", shown)


def test_atom_key_scan() -> None:
    from birbctl.codec.etf import encode_etf

    assert not has_atom_keys(encode_etf({"op": 2, "d": {"a": [1, {"b": None}]}}, style="client"))
    assert has_atom_keys(encode_etf({"op": 2, "d": {"a": [1, {"b": None}]}}, style="server"))
    assert not has_atom_keys(b"\x83t\xff\xff\xff\xff")  # malformed: the decoder reports it


def test_snowflakes_and_token_ids() -> None:
    make_id = SnowflakeFactory(clock=lambda: 1_700_000_000.0)
    first, second = make_id(), make_id()
    assert second > first and snowflake_ms(first) == 1_700_000_000_000
    assert bot_id_from_token(TOKEN) == 1100000000000000005
    assert bot_id_from_token("x.y.z") != 0


def test_guilds_spread_over_shards() -> None:
    world = World(12, seed=3)
    counts = [len(world.guilds_for_shard(i, 3)) for i in range(3)]
    assert counts == [4, 4, 4]


def test_dispatch_encodes_once_and_matches_the_full_encoder() -> None:
    from birbctl.codec.etf import decode_etf

    d = {"id": "1234567890123456789", "content": "hi", "flags": [1, 2]}
    event = PreparedDispatch("MESSAGE_CREATE", d)
    assert orjson.loads(event.message(Encoding.JSON, 7)) == {
        "op": 0, "s": 7, "t": "MESSAGE_CREATE", "d": d,
    }  # fmt: skip
    decoded = decode_etf(event.message(Encoding.ETF, 300), bigint_as_str=True)
    assert decoded == {"op": 0, "s": 300, "t": "MESSAGE_CREATE", "d": d}
