"""The emulator's gateway over real sockets: handshake, identify rules, READY, guilds,
heartbeats, encodings and compressions."""

from __future__ import annotations

import asyncio

import pytest
from emulator_harness import BOT_ID, INTENTS, TOKEN, gateway, running

from birbctl.codec.message import encode_message
from birbctl.protocol.wire import Compression, Encoding

#: Every encoding and `compress=` the gateway offers, as a client's query says them.
ENCODINGS = [e.value for e in Encoding]
COMPRESSIONS = [c.query_value for c in Compression]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("compress", COMPRESSIONS)
async def test_hello_identify_ready_guilds(encoding: str, compress: str | None) -> None:
    async with (
        running(guilds=3) as server,
        gateway(server, encoding=encoding, compress=compress) as client,
    ):
        ready = await client.identify()
        d = ready["d"]
        assert ready["s"] == 1
        assert d["v"] == 10
        assert d["user"]["id"] == BOT_ID and d["user"]["bot"] is True
        assert d["resume_gateway_url"] == server.gateway_url
        assert d["application"]["id"] == BOT_ID
        assert all(g["unavailable"] is True for g in d["guilds"])
        for key in ("session_id", "private_channels", "geo_ordered_rtc_regions", "_trace"):
            assert key in d
        creates = [await client.recv() for _ in d["guilds"]]
        assert [c["t"] for c in creates] == ["GUILD_CREATE"] * 3
        assert [c["s"] for c in creates] == [2, 3, 4]
        assert {c["d"]["id"] for c in creates} == {g["id"] for g in d["guilds"]}
        guild = creates[0]["d"]
        assert guild["unavailable"] is False and guild["channels"] and guild["roles"]
        assert any(m["user"]["id"] == BOT_ID for m in guild["members"])
        # Frames: JSON text when uncompressed, binary otherwise.
        kinds = {type(f) for f in client.frames}
        assert kinds == ({str} if encoding == "json" and compress is None else {bytes})


async def test_hello_interval_and_heartbeat_ack() -> None:
    async with (
        running(heartbeat_interval_ms=1234) as server,
        gateway(server, hello=False) as client,
    ):
        hello = await client.recv()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 1234
        await client.send({"op": 1, "d": None})  # heartbeats need no identify
        assert (await client.recv())["op"] == 11


async def test_etf_is_discord_server_style() -> None:
    async with running(guilds=1) as server, gateway(server, encoding="etf") as client:
        await client.identify()
        raw = client.frames[-1]
        assert isinstance(raw, bytes) and raw[0] == 131
        assert b"\x64\x00\x05READY" in raw  # `t` is an atom
        assert b"\x64\x00\x02op" in raw  # keys are atoms


@pytest.mark.parametrize(
    ("shard", "guilds"),
    [([0, 2], 4), ([1, 2], 4), ([2, 3], 6)],
)
async def test_guild_create_per_shard(shard: list[int], guilds: int) -> None:
    async with running(guilds=guilds) as server, gateway(server) as client:
        ready = await client.identify(shard=shard)
        ids = [int(g["id"]) for g in ready["d"]["guilds"]]
        assert ready["d"]["shard"] == shard
        assert ids and all((i >> 22) % shard[1] == shard[0] for i in ids)
        assert len(ids) == sum(
            1 for g in server.ctx.world.guilds if (g.id >> 22) % shard[1] == shard[0]
        )


async def close_code_after(server_kwargs: dict[str, object], *payloads: object) -> int | None:
    async with running(**server_kwargs) as server, gateway(server) as client:
        for payload in payloads:
            if isinstance(payload, bytes | str):
                await client.send_raw(payload)
            else:
                await client.send(payload)
        return await client.closed_with()


def identify(**d: object) -> dict[str, object]:
    body: dict[str, object] = {"token": TOKEN, "intents": INTENTS, "properties": {}}
    body.update(d)
    return {"op": 2, "d": body}


@pytest.mark.parametrize(
    ("kwargs", "payloads", "code"),
    [
        ({}, ["{not json"], 4002),
        ({}, ["x" * 5000], 4002),
        ({}, [{"op": 3, "d": {}}], 4003),
        ({}, [identify(token="not-a-token")], 4004),
        ({"tokens": frozenset({"a.b.c"})}, [identify()], 4004),
        ({}, [identify(), identify()], 4005),
        ({}, [{"op": 99, "d": None}], 4001),
        ({}, [identify(shard=[1, 1])], 4010),
        ({}, [identify(shard=[-1, 2])], 4010),
        ({"guilds": 5, "max_guilds_per_shard": 4}, [identify()], 4011),
        ({}, [identify(intents=1 << 40)], 4013),
        ({}, [identify(intents="513")], 4013),
        ({"allow_privileged": False}, [identify(intents=1 << 1)], 4014),
        ({}, [{"op": 1, "d": None}] * 121, 4008),
    ],
    ids=[
        "bad-json", "too-big", "before-identify", "bad-token", "not-accepted", "twice",
        "unknown-op", "shard-out-of-range", "negative-shard", "sharding-required",
        "unknown-intents", "intents-not-int", "privileged", "rate-limit",
    ],
)  # fmt: skip
async def test_close_codes(kwargs: dict[str, object], payloads: list[object], code: int) -> None:
    assert await close_code_after(kwargs, *payloads) == code


async def test_etf_atom_keys_get_4002() -> None:
    # {op: 1, d: nil} with atom keys, as a server would write it.
    atom_keys = b"\x83t\x00\x00\x00\x02d\x00\x02opa\x01d\x00\x01dd\x00\x03nil"
    async with running() as server, gateway(server, encoding="etf") as client:
        await client.send_raw(encode_message({"op": 1, "d": None}, "etf"))
        assert (await client.recv())["op"] == 11  # string keys are fine
        await client.send_raw(atom_keys)
        assert await client.closed_with() == 4002


@pytest.mark.parametrize("version", ["5", "11", "abc"])
async def test_bad_version_gets_4012(version: str) -> None:
    async with running() as server, gateway(server, version=version, hello=False) as client:
        assert await client.closed_with() == 4012


async def test_bad_compress_is_refused_at_handshake() -> None:
    from websockets.exceptions import InvalidStatus

    async with running() as server:
        with pytest.raises(InvalidStatus) as info:
            async with gateway(server, compress="gzip"):
                pass
        assert info.value.response.status_code == 400


async def test_heartbeat_timeout_closes() -> None:
    async with (
        running(heartbeat_interval_ms=200, heartbeat_grace=1.0) as server,
        gateway(server) as client,
    ):
        assert await client.closed_with(timeout=2) == 4000


async def test_request_guild_members_answers_a_chunk() -> None:
    async with running(guilds=1) as server, gateway(server) as client:
        ready = await client.identify()
        gid = ready["d"]["guilds"][0]["id"]
        await client.send({"op": 8, "d": {"guild_id": gid, "query": "", "limit": 0, "nonce": "n"}})
        chunk, _ = await client.recv_until(lambda p: p.get("t") == "GUILD_MEMBERS_CHUNK")
        assert chunk["d"]["guild_id"] == gid and chunk["d"]["nonce"] == "n"
        assert chunk["d"]["members"]


async def test_sessions_do_not_leak_between_connections() -> None:
    async with running(guilds=1) as server:
        async with gateway(server) as one, gateway(server) as two:
            first = await one.identify()
            second = await two.identify()
            assert first["d"]["session_id"] != second["d"]["session_id"]
        async with asyncio.timeout(1):
            while len(server.ctx.records):  # both closed with 1000: sessions end
                await asyncio.sleep(0.01)


def test_a_request_path_urlsplit_refuses_is_a_bad_query() -> None:
    """ "//[" reads as a bad IPv6 host to urlsplit: HTTP 400, never a ValueError."""
    from birbctl.emulator.gateway import BadQuery, parse_connect_query

    with pytest.raises(BadQuery, match="not a valid URL path"):
        parse_connect_query("//[?v=10&encoding=json")
