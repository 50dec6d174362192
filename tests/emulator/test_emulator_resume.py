"""Sessions outlive connections: RESUME replays what was missed, then RESUMED; the
failure modes answer as Discord documents (op 9 false, 4007, 4009); traffic is numbered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from emulator_harness import TOKEN, GatewayClient, gateway, running

from birbctl.emulator.server import EmulatorServer
from birbctl.protocol.intents import ALL_INTENTS


async def wait_detached(server: EmulatorServer, session_id: str) -> None:
    async with asyncio.timeout(2):
        while (s := server.ctx.records.get(session_id)) is not None and s.connection is not None:
            await asyncio.sleep(0.01)


async def resume(client: GatewayClient, session_id: str, seq: int | None) -> None:
    await client.send({"op": 6, "d": {"token": TOKEN, "session_id": session_id, "seq": seq}})


def dispatches(payloads: list[Any]) -> list[Any]:
    return [p for p in payloads if p["op"] == 0]


@pytest.mark.parametrize(
    ("encoding", "compress"), [("json", "zlib-stream"), ("etf", "zstd-stream")]
)
async def test_traffic_is_numbered_and_resume_loses_nothing(encoding: str, compress: str) -> None:
    async with running(event_rate=200, guilds=2) as server:
        async with gateway(server, encoding=encoding, compress=compress) as client:
            ready = await client.identify()
            session_id = ready["d"]["session_id"]
            seen = [ready["s"]]
            for _ in range(30):
                payload = await client.recv()
                if payload["op"] == 0:
                    seen.append(payload["s"])
            await client.ws.close(4000)  # not 1000: keep the session
        assert seen == list(range(1, len(seen) + 1))
        await wait_detached(server, session_id)
        await asyncio.sleep(0.1)  # events keep coming while disconnected
        async with gateway(server, encoding=encoding, compress=compress) as client:
            await resume(client, session_id, seen[-1])
            resumed, before = await client.recv_until(lambda p: p.get("t") == "RESUMED")
            replayed = [p["s"] for p in dispatches(before)]
            assert replayed == list(range(seen[-1] + 1, resumed["s"]))
            assert len(replayed) >= 5
            after = [await client.recv() for _ in range(5)]
            assert [p["s"] for p in dispatches(after)] == list(
                range(resumed["s"] + 1, resumed["s"] + 1 + len(dispatches(after)))
            )


async def test_synthetic_event_shapes() -> None:
    async with running(event_rate=300, guilds=1) as server, gateway(server) as client:
        await client.identify(intents=int(ALL_INTENTS))
        kinds: dict[str, Any] = {}
        async with asyncio.timeout(5):
            while len(kinds) < 5:
                payload = await client.recv()
                if payload["op"] == 0 and payload["t"] != "GUILD_CREATE":
                    kinds.setdefault(payload["t"], payload["d"])
        message = kinds.get("MESSAGE_CREATE")
        if message is not None:
            assert message["author"]["id"] and message["content"]
            # A real snowflake: its timestamp is now, within a minute.
            import time

            ms = (int(message["id"]) >> 22) + 1420070400000
            assert abs(ms / 1000 - time.time()) < 60


async def test_intents_filter_traffic() -> None:
    async with running(event_rate=300, guilds=1) as server, gateway(server) as client:
        await client.identify(intents=1 | (1 << 11))  # GUILDS + GUILD_MESSAGE_TYPING only
        types = set()
        for _ in range(30):
            payload = await client.recv()
            if payload["op"] == 0:
                types.add(payload["t"])
        assert types <= {"READY", "GUILD_CREATE", "TYPING_START"}
        assert "TYPING_START" in types


async def test_resume_unknown_session_gets_op9_false() -> None:
    async with running() as server, gateway(server) as client:
        await resume(client, "0" * 32, 1)
        payload = await client.recv()
        assert payload["op"] == 9 and payload["d"] is False


async def test_resume_after_client_close_1000_gets_op9_false() -> None:
    async with running(guilds=1) as server:
        async with gateway(server) as client:
            session_id = (await client.identify())["d"]["session_id"]
        async with asyncio.timeout(2):
            while server.ctx.records.get(session_id) is not None:
                await asyncio.sleep(0.01)
        async with gateway(server) as client:
            await resume(client, session_id, 1)
            payload = await client.recv()
            assert payload["op"] == 9 and payload["d"] is False


async def test_resume_with_a_seq_ahead_gets_4007() -> None:
    async with running(guilds=1) as server:
        async with gateway(server) as client:
            session_id = (await client.identify())["d"]["session_id"]
            await client.ws.close(4000)
        await wait_detached(server, session_id)
        async with gateway(server) as client:
            await resume(client, session_id, 999)
            assert await client.closed_with() == 4007


async def test_resume_of_an_expired_session_gets_4009() -> None:
    async with running(guilds=1, session_expiry_s=0.05) as server:
        async with gateway(server) as client:
            session_id = (await client.identify())["d"]["session_id"]
            await client.ws.close(4000)
        await wait_detached(server, session_id)
        await asyncio.sleep(0.1)
        async with gateway(server) as client:
            await resume(client, session_id, 1)
            assert await client.closed_with() == 4009


async def test_resume_from_zero_replays_ready_onwards() -> None:
    async with running(guilds=2) as server:
        async with gateway(server) as client:
            session_id = (await client.identify())["d"]["session_id"]
            await client.ws.close(4000)
        await wait_detached(server, session_id)
        async with gateway(server) as client:
            await resume(client, session_id, None)
            resumed, before = await client.recv_until(lambda p: p.get("t") == "RESUMED")
            assert [p["t"] for p in before] == ["READY", "GUILD_CREATE", "GUILD_CREATE"]
            assert resumed["s"] == 4


async def test_session_start_limit_counts_identifies() -> None:
    import urllib.request

    async with running(guilds=1) as server:

        def remaining() -> int:
            request = urllib.request.Request(
                server.rest_url + "/gateway/bot", headers={"Authorization": f"Bot {TOKEN}"}
            )
            with urllib.request.urlopen(request, timeout=2) as response:
                assert response.headers["Content-Type"] == "application/json"
                import json

                limit = json.loads(response.read())["session_start_limit"]
                return int(limit["remaining"])

        before = await asyncio.to_thread(remaining)
        for _ in range(2):
            async with gateway(server) as client:
                await client.identify()
        assert await asyncio.to_thread(remaining) == before - 2


@pytest.mark.parametrize("code", [4000, 4001, 4004, 4006, 4007, 4008, 4009, 4014])
async def test_a_close_fault_ends_the_session_exactly_where_clients_must_not_resume(
    code: int,
) -> None:
    """The emulator and the client read one close policy (protocol/opcodes.py): after a
    close the client would resume from, RESUME works; after one it must not, it fails."""
    from birbctl.emulator.faults import Fault
    from birbctl.protocol.opcodes import CloseAction, policy_for

    async with running(guilds=1) as server:
        async with gateway(server) as client:
            ready = await client.identify()
            session_id = ready["d"]["session_id"]
            server.inject(Fault("close", code=code))
            assert await client.closed_with() == code
        await wait_detached(server, session_id)
        async with gateway(server) as client:
            await resume(client, session_id, ready["s"])
            if policy_for(code).action is CloseAction.RESUME:
                resumed, _ = await client.recv_until(lambda p: p.get("t") == "RESUMED")
                assert resumed["t"] == "RESUMED"
            elif code == 4009:
                assert await client.closed_with() == 4009  # remembered as timed out
            else:
                payload = await client.recv()
                assert payload["op"] == 9 and payload["d"] is False
