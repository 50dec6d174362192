"""The emulator's parsers of untrusted input: scenario files, --fault flags, and client
messages to the sans-I/O gateway connection (JSON and ETF, text and binary)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import orjson
import pytest
from fuzzkit import (
    EXAMPLES_DIR,
    Failures,
    examples,
    fuzz_settings,
    mutate,
    mutation_rounds,
    pack_frames,
)
from fuzzseeds import TOKEN
from fuzztargets import run_fault_flag, run_gateway, run_gateway_messages, run_scenario
from hypothesis import given
from hypothesis import strategies as st

from birbctl.codec.etf import encode_etf
from birbctl.protocol.wire import Compression

# --- scenario files -------------------------------------------------------------------------

_toml_values = st.sampled_from(
    [
        "1",
        "-1",
        "0.5",
        "inf",
        "-inf",
        "nan",
        "1e400",
        '"4000"',
        '"x"',
        "true",
        "false",
        "1979-05-27T07:32:00Z",
        "[1, 2]",
        "{a = 1}",
        "9223372036854775807",
        "0x7fffffff",
        '"' + "r" * 130 + '"',
        "'''multi\nline'''",
        "1_000",
    ]
)
_keys = st.sampled_from(
    ["at", "after_events", "action", "code", "reason", "ms", "seconds", "resumable", "bogus"]
)
_actions = st.sampled_from(
    [
        '"reconnect"',
        '"invalid_session"',
        '"close"',
        '"drop"',
        '"zombie"',
        '"ack_delay"',
        '"request_heartbeat"',
        '"corrupt"',
        '"stall"',
        '"x"',
    ]
)


@st.composite
def scenarios(draw: st.DrawFn) -> bytes:
    lines = []
    if draw(st.booleans()):
        lines.append(f"description = {draw(_toml_values)}")
    for _ in range(draw(st.integers(0, 3))):
        lines.append("[[step]]")
        lines.append(f"action = {draw(_actions)}")
        for key in draw(st.lists(_keys, max_size=4, unique=True)):
            if key != "action":
                lines.append(f"{key} = {draw(_toml_values)}")
    return "\n".join(lines).encode()


@fuzz_settings(300)
@given(scenarios() | st.binary(max_size=48))
def test_scenario_files(data: bytes) -> None:
    run_scenario(data)


def test_scenario_mutations() -> None:
    seeds = [
        (EXAMPLES_DIR / "faults.toml").read_bytes(),
        b'[[step]]\nat = 1.5\naction = "close"\ncode = 4000\nreason = "x"\n',
        b'[[step]]\nafter_events = 3\naction = "stall"\nseconds = 2\n',
    ]
    failures = Failures("scenario")
    for data, _rng in mutation_rounds(seeds, examples(100), "scenario"):
        failures.run(data, lambda d=data: run_scenario(d))  # type: ignore[misc]
    failures.check()


@fuzz_settings(300)
@given(
    st.lists(
        st.tuples(_keys, st.sampled_from(["=", "", "=="]), _toml_values | st.text(max_size=5)),
        max_size=5,
    ).map(lambda words: " ".join(k + s + v.replace(" ", "") for k, s, v in words).encode())
    | st.binary(max_size=24)
)
def test_fault_flags(data: bytes) -> None:
    run_fault_flag(data)


# --- gateway connections --------------------------------------------------------------------

_json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_ops = st.sampled_from([0, 1, 2, 3, 4, 6, 8, 11, 31, 36, 43, -1, 2**63, 2**64, 2**70]) | _json_like


@st.composite
def client_payloads(draw: st.DrawFn) -> dict[str, object]:
    op = draw(_ops)
    d = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "token": st.sampled_from([TOKEN, "Bot " + TOKEN, "x"]) | _json_like,
                "intents": st.sampled_from([0, 513, -1, 2**70]) | _json_like,
                "properties": _json_like,
                "shard": st.sampled_from([[0, 1], [1, 1], [0, 2**70], [0]]) | _json_like,
                "session_id": _json_like,
                "seq": st.sampled_from([0, 1, -1, 2**64]) | _json_like,
                "guild_id": st.sampled_from(["1", "\u00b2", "9" * 30, 10**40]) | _json_like,
                "nonce": _json_like,
                "large_threshold": _json_like,
            },
        )
        | _json_like
    )
    payload: dict[str, object] = {"op": op, "d": d}
    if draw(st.booleans()):
        payload["s"] = draw(_json_like)
    return payload


def _encode(payload: object, how: str) -> bytes | str | None:
    try:
        if how == "etf":
            etf: bytes = encode_etf(payload)
            return etf
        return orjson.dumps(payload).decode() if how == "text" else orjson.dumps(payload)
    except (TypeError, ValueError):
        return None


@fuzz_settings(300)
@given(
    encoding=st.sampled_from(["json", "etf"]),
    compress=st.sampled_from(list(Compression)),
    state=st.sampled_from(["fresh", "ready"]),
    messages=st.lists(
        st.tuples(client_payloads(), st.sampled_from(["etf", "text", "binary"]))
        | st.binary(max_size=40).map(lambda b: (b, "raw")),
        min_size=1,
        max_size=4,
    ),
)
def test_gateway_client_messages(
    encoding: str, compress: Compression, state: str, messages: list[tuple[object, str]]
) -> None:
    wire: list[bytes | str] = []
    for payload, how in messages:
        encoded = payload if how == "raw" else _encode(payload, how)
        if isinstance(encoded, bytes | str):
            wire.append(encoded)
    run_gateway_messages(encoding, compress, state, wire)


def _gateway_seed(encoding: str, state: str, payloads: Sequence[object]) -> bytes:
    frames = [f"{encoding} none {state}".encode()]
    for payload in payloads:
        if encoding == "etf":
            frames.append(b"b" + encode_etf(payload))
        else:
            frames.append(b"t" + orjson.dumps(payload))
    return pack_frames(frames)


def test_gateway_mutations() -> None:
    """Mutated real client messages (IDENTIFY, RESUME, heartbeats, op 8) in both
    encodings, on fresh and on identified connections."""
    identify = {
        "op": 2,
        "d": {
            "token": TOKEN,
            "intents": 513,
            "properties": {"os": "linux"},
            "shard": [0, 1],
            "large_threshold": 50,
        },
    }
    resume = {"op": 6, "d": {"token": TOKEN, "session_id": "abc", "seq": 3}}
    members = {"op": 8, "d": {"guild_id": ["1", "2"], "nonce": "n", "limit": 0, "query": ""}}
    heartbeat = {"op": 1, "d": 7}
    rng = random.Random("gateway-mutations")
    failures = Failures("gateway")
    for encoding in ("json", "etf"):
        for state, payloads in (
            ("fresh", [identify]),
            ("fresh", [resume]),
            ("ready", [heartbeat, members]),
        ):
            seed = _gateway_seed(encoding, state, payloads)
            head, *messages = _unpack(seed)
            for _ in range(examples(60)):
                mutated = [m[:1] + mutate(m[1:], rng) for m in messages]
                data = pack_frames([head, *mutated])
                failures.run(data, lambda d=data: run_gateway(d))  # type: ignore[misc]
    failures.check()


def _unpack(data: bytes) -> list[bytes]:
    from fuzzkit import unpack_frames

    return unpack_frames(data)


@pytest.mark.parametrize("encoding", ["json", "etf"])
def test_gateway_every_nesting_depth(encoding: str) -> None:
    """A payload nested 1..600 deep inside `d`, and inside an op 8 nonce (which the
    emulator echoes back), on an identified connection: a close code or frames."""
    failures = Failures(f"gateway-depth-{encoding}")
    for depth in range(1, 601, 1 if encoding == "etf" else 3):
        nested: object = []
        for _ in range(depth - 1):
            nested = [nested]
        for payload in ({"op": 1, "d": nested}, {"op": 8, "d": {"guild_id": "0", "nonce": nested}}):
            message = _encode(payload, "etf" if encoding == "etf" else "text")
            if message is None:
                continue
            head = f"{encoding} none ready".encode()
            body = (b"b" + message) if isinstance(message, bytes) else (b"t" + message.encode())
            data = pack_frames([head, body])
            failures.run(data, lambda d=data: run_gateway(d))  # type: ignore[misc]
    failures.check()
