"""Faults during the handshake: `on = connect|hello|identify|resume` steps (TOML, --fault,
admin endpoint), `times` and `probability`, the random chaos mode, the record of every
injected fault, and the identify rate limit bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from emulator_harness import TOKEN, GatewayClient, gateway, left_resumable, running
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from birbctl.emulator.chaos import Chaos, ChaosConfig, parse_chaos_flag
from birbctl.emulator.faults import Fault, FaultStep, parse_fault_flag
from birbctl.emulator.scenario import parse_scenario
from birbctl.emulator.server import EmulatorServer
from birbctl.errors import ConfigError
from birbctl.protocol.opcodes import CloseCode, Opcode

# --- parsing -----------------------------------------------------------------------------


def test_on_steps_parse_from_flags_and_toml() -> None:
    flag = parse_fault_flag("on=hello delay=2.5 action=close code=4000 times=inf probability=0.3")
    toml = parse_scenario(
        "[[step]]\non = 'hello'\ndelay = 2.5\naction = 'close'\ncode = 4000\n"
        "times = inf\nprobability = 0.3\n"
    )
    expected = FaultStep(
        Fault("close", code=4000), on="hello", delay=2.5, times=None, probability=0.3
    )
    assert flag == expected and toml == (expected,)
    assert parse_fault_flag("on=identify action=drop") == FaultStep(Fault("drop"), on="identify")
    assert parse_fault_flag("on=resume action=drop times=3").times == 3
    assert flag.describe() == "on=hello delay=2.5 times=inf probability=0.3 close code=4000"
    assert flag.trigger == "hello" and parse_fault_flag("at=1 action=drop").trigger == "at"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("action=drop", "exactly one of at = SECONDS, after_events = N or on = connect|hello"),
        ("on=identify at=3 action=drop", r"exactly one of .* \(got at and on\)"),
        ("on=ready action=drop", "on must be one of connect, hello, identify, resume; got 'ready'"),
        ("on=identify delay=2 action=drop", "delay goes with on = hello only"),
        ("at=1 times=2 action=drop", "times only go with on = "),
        ("after_events=1 probability=0.5 action=drop", "probability only go with on = "),
        ("on=connect times=0 action=drop", "times must be a whole number of at least 1, or inf"),
        ("on=connect times=1.5 action=drop", "times must be a whole number"),
        ("on=connect probability=1.5 action=drop", "probability must be between 0 and 1"),
        ("on=connect probability=nan action=drop", "probability must be a number"),
        ("on=hello delay=-1 action=drop", "delay must not be negative"),
        ("on=connect action=stall", "stall needs seconds"),
    ],
)
def test_on_step_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_fault_flag(text)


def test_chaos_flag() -> None:
    config = parse_chaos_flag(
        "mean=2 window=4 faults=drop,close:4001,stall:3 triggers=connect,live", seed=9
    )
    assert config == ChaosConfig(
        2.0,
        (Fault("drop"), Fault("close", code=4001), Fault("stall", seconds=3)),
        ("connect", "live"),
        9,
        4.0,
    )
    assert parse_chaos_flag("mean=1 seed=4").seed == 4
    assert len(parse_chaos_flag("mean=1").triggers) == 5
    described = config.describe()
    assert (
        described == "mean=2 window=4 faults=drop,close:4001,stall:3 triggers=connect,live seed=9"
    )
    assert parse_chaos_flag(described) == config  # what the banner prints reads back


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("faults=drop", "needs mean=SECONDS"),
        ("mean=0", "mean interval must be above 0"),
        ("mean=1 window=0", "window must be above 0"),
        ("mean=1 window=x", "window must be a number"),
        ("mean=x", "mean must be a number"),
        ("mean=1 faults=explode", "action must be one of"),
        ("mean=1 faults=drop:3", "nothing goes after the colon"),
        ("mean=1 triggers=connect,ready", "triggers must be among"),
        ("mean=1 rate=3", "unknown key 'rate'"),
        ("mean=1 seed=x", "seed must be an integer"),
    ],
)
def test_chaos_flag_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_chaos_flag(text)


def test_chaos_draws_are_seeded_and_bounded() -> None:
    config = ChaosConfig(0.5, (Fault("drop"), Fault("reconnect")), seed=3)
    one, two = Chaos(config), Chaos(config)
    one.start(0.0)
    two.start(0.0)
    draws = one.due(50.0)
    assert draws == two.due(50.0)
    assert 60 <= len(draws) <= 100  # mean 0.5 s over 50 s; at most 100 per call
    assert one.next_at is not None and one.next_at > 50.0
    assert {t for t, _ in draws} == set(config.triggers)
    assert one.drawn == len(draws)


def test_chaos_fault_waits_for_its_point_only_its_window() -> None:
    chaos = Chaos(ChaosConfig(1.0, (Fault("drop"),), ("connect",), window=2.0))
    chaos.arm("connect", Fault("drop"), 10.0)
    chaos.arm("connect", Fault("reconnect"), 11.0)  # one waits already: skipped
    assert chaos.take("connect", 11.5) == Fault("drop")
    assert chaos.take("connect", 11.6) is None
    chaos.arm("connect", Fault("drop"), 20.0)
    assert chaos.take("connect", 22.0) is None  # lapsed unused
    assert chaos.skipped == 2
    default = Chaos(ChaosConfig(0.5, (Fault("drop"),), ("connect",)))
    default.arm("connect", Fault("drop"), 0.0)
    assert default.take("connect", 0.6) is None  # the window defaults to the mean


# --- a raw client sees each handshake point's fault -------------------------------------


def steps(*texts: str) -> tuple[FaultStep, ...]:
    return tuple(parse_fault_flag(t) for t in texts)


async def raw_frames(client: GatewayClient, timeout: float = 2.0) -> tuple[list[Any], int | None]:
    """Everything the server sends until it closes (or `timeout`): (payloads, close code,
    None when it dropped the socket or is still open)."""
    payloads = []
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        async with asyncio.timeout(timeout):
            for _ in range(100):
                payloads.append(await client.recv(timeout))
    rcvd = client.ws.protocol.close_rcvd
    return payloads, None if rcvd is None else rcvd.code


async def dropped(client: GatewayClient) -> bool:
    """The server closed the TCP connection without a close frame and sent nothing."""
    payloads, code = await raw_frames(client)
    return payloads == [] and code is None and client.ws.protocol.state is State.CLOSED


async def test_connect_drop_and_close_before_hello() -> None:
    async with running(
        steps=steps("on=connect action=drop", "on=connect action=close code=4000")
    ) as server:
        async with gateway(server, hello=False) as client:
            assert await dropped(client)  # no HELLO, no close frame
        async with gateway(server, hello=False) as client:
            assert await raw_frames(client) == ([], CloseCode.UNKNOWN_ERROR)
        async with gateway(server) as client:  # each step fired once: HELLO as usual
            await client.identify()
        faults = server.injected_faults
        assert [(f.trigger, f.source, f.fault.action) for f in faults] == [
            ("connect", "step", "drop"),
            ("connect", "step", "close"),
        ]
        assert faults[0].connection != faults[1].connection and faults[0].shard is None
        assert faults[0].peer_port is not None and faults[0].peer_port != faults[1].peer_port
        assert server.injected_count == 2


async def test_connect_stall_holds_hello() -> None:
    async with running(steps=steps("on=connect action=stall seconds=0.4")) as server:
        started = time.monotonic()
        async with gateway(server, hello=False) as client:
            assert (await client.recv())["op"] == Opcode.HELLO
            assert time.monotonic() - started >= 0.35


async def test_hello_fault_comes_right_after_hello() -> None:
    async with (
        running(steps=steps("on=hello action=close code=4000")) as server,
        gateway(server, hello=False) as client,
    ):
        payloads, code = await raw_frames(client)
        assert [p["op"] for p in payloads] == [Opcode.HELLO] and code == 4000


async def test_hello_delay_hits_a_client_holding_its_identify() -> None:
    async with running(steps=steps("on=hello delay=0.3 action=close code=4000")) as server:
        async with gateway(server) as client:
            started = time.monotonic()
            payloads, code = await raw_frames(client)
            assert payloads == [] and code == 4000
            assert time.monotonic() - started >= 0.25
        [record] = server.injected_faults
        assert record.trigger == "hello"


async def test_hello_delay_spares_a_client_that_identified_in_time() -> None:
    async with (
        running(guilds=1, steps=steps("on=hello delay=0.3 action=close code=4000")) as server,
        gateway(server) as client,
    ):
        await client.identify()
        await asyncio.sleep(0.45)
        await client.send({"op": 1, "d": 1})
        await client.recv_until(lambda p: p["op"] == Opcode.HEARTBEAT_ACK)
        assert not server.injected_faults
        assert server.ctx.handshake.armed[0].fired == 0  # still armed for the next one


async def test_identify_drop_then_the_retry_gets_ready() -> None:
    async with running(guilds=1, steps=steps("on=identify action=drop")) as server:
        async with gateway(server) as client:
            identify = {"token": TOKEN, "intents": 1, "properties": {}, "shard": [0, 1]}
            await client.send({"op": 2, "d": identify})
            assert await dropped(client)
        async with gateway(server) as client:
            ready = await client.identify()
            assert ready["s"] == 1
        [record] = server.injected_faults
        assert (record.trigger, record.shard, record.session) == ("identify", (0, 1), None)


async def test_identify_invalid_session_answers_the_identify() -> None:
    async with (
        running(guilds=1, steps=steps("on=identify action=invalid_session")) as server,
        gateway(server) as client,
    ):
        await client.send({"op": 2, "d": {"token": TOKEN, "intents": 1, "properties": {}}})
        payload = await client.recv()
        assert payload["op"] == Opcode.INVALID_SESSION and payload["d"] is False
        assert len(server.ctx.records) == 0  # no session was made
        ready = await client.identify()  # on the same connection, as clients do
        assert ready["t"] == "READY"


async def test_resume_drop_then_the_retry_resumes() -> None:
    async with running(guilds=1, steps=steps("on=resume action=drop")) as server:
        session_id, seq = await left_resumable(server)
        resume = {"op": 6, "d": {"token": TOKEN, "session_id": session_id, "seq": seq}}
        async with gateway(server) as client:
            await client.send(resume)
            assert await dropped(client)
        async with gateway(server) as client:
            await client.send(resume)
            _, replayed = await client.recv_until(lambda p: p.get("t") == "RESUMED")
            assert [p["t"] for p in replayed] == ["GUILD_CREATE"]
        [record] = server.injected_faults
        assert (record.trigger, record.shard) == ("resume", (0, 1))


async def test_resume_invalid_session_resumable() -> None:
    step = "on=resume action=invalid_session resumable=true"
    async with running(guilds=1, steps=steps(step)) as server:
        session_id, seq = await left_resumable(server)
        resume = {"op": 6, "d": {"token": TOKEN, "session_id": session_id, "seq": seq}}
        async with gateway(server) as client:
            await client.send(resume)
            payload = await client.recv()
            assert payload["op"] == Opcode.INVALID_SESSION and payload["d"] is True
            await client.send(resume)  # resumable: try again
            await client.recv_until(lambda p: p.get("t") == "RESUMED")


async def test_non_terminal_identify_fault_then_ready() -> None:
    async with (
        running(guilds=1, steps=steps("on=identify action=request_heartbeat")) as server,
        gateway(server) as client,
    ):
        await client.send({"op": 2, "d": {"token": TOKEN, "intents": 1, "properties": {}}})
        assert (await client.recv())["op"] == Opcode.HEARTBEAT
        assert (await client.recv())["t"] == "READY"


# --- how often: times, probability -------------------------------------------------------


async def connect_outcomes(server: EmulatorServer, count: int) -> list[bool]:
    """For `count` connections in turn: True if closed before HELLO."""
    outcomes = []
    for _ in range(count):
        async with gateway(server, hello=False) as client:
            payloads, _ = await raw_frames(client, timeout=0.3)
            outcomes.append(not payloads)
    return outcomes


async def test_times_limits_firings_server_wide() -> None:
    async with running(steps=steps("on=connect action=close code=4000 times=2")) as server:
        assert await connect_outcomes(server, 3) == [True, True, False]


async def test_probability_is_seeded() -> None:
    step = steps("on=connect action=close code=4000 probability=0.5 times=inf")
    runs = []
    for _ in range(2):
        async with running(seed=11, steps=step) as server:
            outcomes = await connect_outcomes(server, 10)
            assert sum(outcomes) == len(server.injected_faults)
            runs.append(outcomes)
    assert runs[0] == runs[1] and 0 < sum(runs[0]) < 10


# --- the admin endpoint arms a handshake step --------------------------------------------


def admin(server: EmulatorServer, route: str, method: str = "POST") -> tuple[int, Any]:
    request = urllib.request.Request(f"{server.admin_url}/{route}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_admin_arms_an_identify_fault() -> None:
    async with running(guilds=1) as server:
        status, body = await asyncio.to_thread(
            admin, server, "faults?on=identify&action=drop&times=1"
        )
        assert status == 200, body
        assert body["armed"] == {"id": 1, "step": "on=identify times=1 drop", "fired": 0}
        async with gateway(server) as client:
            await client.send({"op": 2, "d": {"token": TOKEN, "intents": 1, "properties": {}}})
            assert await dropped(client)
        status, body = await asyncio.to_thread(admin, server, "sessions", "GET")
        assert body["handshake_steps"][0]["fired"] == 1 and body["faults_injected"] == 1
        for query, message in [
            ("on=identify&action=drop&session=ab", "do not go with on="),
            ("at=3&action=drop", "session timelines"),
            ("on=later&action=drop", "on must be one of"),
        ]:
            status, body = await asyncio.to_thread(admin, server, f"faults?{query}")
            assert status == 400 and message in body["message"], body


# --- identify rate limit bookkeeping -----------------------------------------------------


@pytest.mark.parametrize(("max_concurrency", "violations"), [(1, 1), (2, 0)])
async def test_identify_too_soon_in_a_bucket_is_recorded_not_closed(
    max_concurrency: int, violations: int
) -> None:
    async with (
        running(guilds=2, max_concurrency=max_concurrency) as server,
        gateway(server) as one,
        gateway(server) as two,
    ):
        await one.identify(shard=[0, 2])
        await two.identify(shard=[1, 2])  # READY either way: not closed
        assert len(server.identify_violations) == violations
        assert [r.bucket for r in server.identifies] == [0, 0 if max_concurrency == 1 else 1]
        if violations:
            [v] = server.identify_violations
            assert v.shard == (1, 2) and v.since_previous is not None and v.since_previous < 5
            assert v.connection != server.identifies[0].connection
            _, body = await asyncio.to_thread(admin, server, "sessions", "GET")
            assert body["identify_violations"] == 1


# --- chaos --------------------------------------------------------------------------------


async def test_chaos_at_connect_is_recorded_once_per_fault() -> None:
    chaos = ChaosConfig(0.02, (Fault("close", code=4000),), ("connect",), seed=1)
    async with running(chaos=chaos) as server:
        closed = 0
        for _ in range(40):
            await asyncio.sleep(0.03)  # let a draw arm the next connection
            async with gateway(server, hello=False) as client:
                payloads, code = await raw_frames(client, timeout=0.5)
                if not payloads:
                    assert code == 4000
                    closed += 1
            if closed >= 3:
                break
        records = server.injected_faults
        assert closed >= 3 and len(records) == closed
        assert {(r.trigger, r.source) for r in records} == {("connect", "chaos")}


async def test_chaos_live_strikes_a_ready_session() -> None:
    chaos = ChaosConfig(0.05, (Fault("request_heartbeat"),), ("live",), seed=2)
    async with running(guilds=1, chaos=chaos) as server, gateway(server) as client:
        ready = await client.identify(shard=[0, 1])
        await client.recv_until(lambda p: p["op"] == Opcode.HEARTBEAT, timeout=3)
        record = server.injected_faults[0]
        assert (record.trigger, record.session, record.shard) == (
            "live",
            ready["d"]["session_id"],
            (0, 1),
        )
        assert record.time <= server.clock()


async def test_chaos_from_the_server_argument_and_live_only_inject() -> None:
    chaos = ChaosConfig(0.05, (Fault("request_heartbeat"),), ("live",), seed=2)
    async with running(guilds=1) as plain:
        assert plain.ctx.chaos is None
    server = EmulatorServer(plain.config, chaos=chaos)
    assert server.config.chaos == chaos
    async with running(guilds=1) as server, gateway(server) as waiting, gateway(server) as ready:
        await ready.identify()
        applied = server.inject(Fault("request_heartbeat"), live_only=True)
        assert len(applied) == 1  # not the connection still waiting to identify
        await ready.recv_until(lambda p: p["op"] == Opcode.HEARTBEAT)
        assert waiting.ws.protocol.state is State.OPEN


async def test_chaos_hello_strikes_a_client_holding_its_identify() -> None:
    chaos = ChaosConfig(0.05, (Fault("close", code=4000),), ("hello",), seed=3)
    async with running(chaos=chaos) as server, gateway(server) as client:
        _, code = await raw_frames(client, timeout=3)
        assert code == 4000
        assert server.injected_faults[0].trigger == "hello"


async def test_chaos_identify_and_resume_wait_for_their_point() -> None:
    chaos = ChaosConfig(0.01, (Fault("drop"),), ("identify", "resume"), seed=4, window=10.0)
    async with running(guilds=1, chaos=chaos) as server:
        await asyncio.sleep(0.2)  # both points armed by now; nothing struck yet
        assert not server.injected_faults
        async with gateway(server) as client:
            await client.send({"op": 2, "d": {"token": TOKEN, "intents": 1, "properties": {}}})
            assert await dropped(client)
        assert [r.trigger for r in server.injected_faults] == ["identify"]


def test_example_scenario_shows_a_handshake_step_and_its_soak_variant() -> None:
    from pathlib import Path

    from birbctl.emulator.scenario import load_scenario

    example = Path(__file__).resolve().parents[2] / "examples" / "faults.toml"
    assert any(s.on == "identify" for s in load_scenario(example))
    text = example.read_text()
    commented = text[text.index('# [[step]]\n# on = "hello"') :]
    [soak] = parse_scenario("\n".join(line[2:] for line in commented.splitlines()))
    assert (soak.on, soak.delay, soak.times, soak.probability) == ("hello", 2.0, None, 0.2)


def test_scenario_file_that_is_not_utf8_is_a_config_error(tmp_path: Any) -> None:
    from pathlib import Path

    from birbctl.emulator.scenario import load_scenario

    path = Path(str(tmp_path)) / "bad.toml"
    path.write_bytes(b'[[step]]\non = "connect"\naction = "drop" # \x80\n')
    with pytest.raises(ConfigError, match=r"bad.toml: not UTF-8 text \(byte offset 42\)"):
        load_scenario(path)
