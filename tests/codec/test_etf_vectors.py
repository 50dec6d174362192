"""ETF decoding of real Discord bytes (../shared/vectors), cross-checked against erlpack.

The expected values are written out by hand from the `.erlang_term.txt` files (what
Erlang/OTP's binary_to_term gives for the same bytes), not produced by our decoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from birbctl.codec.etf import (
    DecodeFunction,
    decode_etf,
    decode_etf_c,
    decode_etf_py,
    encode_etf,
)
from birbctl.errors import DecodeError

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
HELLO_BIN = VECTORS / "gsmcwhirter_etf_hello_atomkeys.bin"
READY_BIN = VECTORS / "cppetfer_etf_ready_v10.bin"

pytestmark = pytest.mark.skipif(
    not HELLO_BIN.is_file() or not READY_BIN.is_file(),
    reason="../shared/vectors is not here",
)

DECODERS = [
    pytest.param(decode_etf_py, id="py"),
    pytest.param(
        decode_etf_c,
        id="c",
        marks=pytest.mark.skipif(decode_etf_c is None, reason="C extension not built"),
    ),
]


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""


HELLO = _read(HELLO_BIN)
READY = _read(READY_BIN)

EXPECTED_HELLO = {
    "d": {"_trace": ["gateway-prd-main-vmtk"], "heartbeat_interval": 41250},
    "op": 10,
    "s": None,
    "t": None,
}

READY_TRACE = (
    '["gateway-prd-us-east1-b-ch1v",{"micros":183234,"calls":["id_created",'
    '{"micros":1033,"calls":[]},"session_lookup_time",{"micros":357,"calls":[]},'
    '"session_lookup_finished",{"micros":16,"calls":[]},"discord-sessions-prd-2-25",'
    '{"micros":179883,"calls":["start_session",{"micros":86946,"calls":['
    '"discord-api-5dcdf7bc48-rfg2s",{"micros":79997,"calls":["get_user",{"micros":21369},'
    '"get_guilds",{"micros":8481},"send_scheduled_deletion_message",{"micros":15},'
    '"guild_join_requests",{"micros":911},"authorized_ip_coro",{"micros":15}]}]},'
    '"starting_guild_connect",{"micros":238,"calls":[]},"presence_started",'
    '{"micros":44692,"calls":[]},"guilds_started",{"micros":170,"calls":[]},'
    '"guilds_connect",{"micros":2,"calls":[]},"presence_connect",{"micros":47809,"calls":[]},'
    '"connect_finished",{"micros":47814,"calls":[]},"build_ready",{"micros":20,"calls":[]},'
    '"clean_ready",{"micros":0,"calls":[]},"optimize_ready",{"micros":1,"calls":[]},'
    '"split_ready",{"micros":0,"calls":[]}]}]}]'
)

GUILD_IDS = [
    931640556814237706,
    991025447875784714,
    995048955215872071,
    1022405038922006538,
    1032783776184533022,
    1078501504119476282,
    1131853763506880522,
]
BOT_ID = 1142733646600614004


def expected_ready(snowflake: Any = int) -> dict[str, Any]:
    return {
        "d": {
            "_trace": [READY_TRACE],
            "application": {"flags": 27828224, "id": snowflake(BOT_ID)},
            "auth": {},
            "geo_ordered_rtc_regions": ["newark", "us-east", "us-central", "atlanta", "us-south"],
            "guild_join_requests": [],
            "guilds": [{"id": snowflake(g), "unavailable": True} for g in GUILD_IDS],
            "presences": [],
            "private_channels": [],
            "relationships": [],
            "resume_gateway_url": "wss://gateway-us-east1-b.discord.gg",
            "session_id": "05e822b17e30bebea730f34839372d97",
            "session_type": "normal",
            "shard": [0, 1],
            "user": {
                "avatar": "88bd9ce7bf889c0d36fb4afd3725900b",
                "bot": True,
                "discriminator": "3055",
                "email": None,
                "flags": 0,
                "global_name": None,
                "id": snowflake(BOT_ID),
                "mfa_enabled": False,
                "username": "MBot-MusicHouse-2",
                "verified": True,
            },
            "user_settings": {},
            "v": 10,
        },
        "op": 0,
        "s": 1,
        "t": "READY",
    }


def outcome(decode: DecodeFunction, data: bytes, **kwargs: Any) -> tuple[str, Any, Any]:
    """What a decoder made of `data`, comparable across implementations (repr keeps
    True apart from 1 and nan equal to nan)."""
    try:
        return ("ok", repr(decode(data, **kwargs)), None)
    except DecodeError as exc:
        return ("error", exc.message, exc.offset)


# --- the reference values ------------------------------------------------------------------


@pytest.mark.parametrize("decode", DECODERS)
def test_hello_vector(decode: DecodeFunction) -> None:
    value = decode(HELLO)
    assert value == EXPECTED_HELLO
    assert value["s"] is None and value["t"] is None


@pytest.mark.parametrize("decode", DECODERS)
def test_ready_vector(decode: DecodeFunction) -> None:
    value = decode(READY)
    assert value == expected_ready()
    user = value["d"]["user"]
    assert user["bot"] is True and user["mfa_enabled"] is False and user["email"] is None


@pytest.mark.parametrize("decode", DECODERS)
def test_ready_vector_bigint_as_str(decode: DecodeFunction) -> None:
    """Snowflakes come back as Discord's JSON carries them; small ints stay ints."""
    value = decode(READY, bigint_as_str=True)
    assert value == expected_ready(str)
    assert value["d"]["application"]["flags"] == 27828224


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=lambda w: w.__name__)
def test_bytes_like_inputs(decode: DecodeFunction, wrap: Any) -> None:
    assert decode(wrap(READY)) == expected_ready()


def test_default_decoder_is_the_fast_one() -> None:
    assert decode_etf(READY) == expected_ready()


# --- erlpack agrees ------------------------------------------------------------------------


def _from_erlpack(value: Any) -> Any:
    """erlpack's view (bytes binaries, Atom str subclass, tuples) in our terms."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {_from_erlpack(k): _from_erlpack(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_from_erlpack(v) for v in value]
    return value


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("data", [HELLO, READY], ids=["hello", "ready"])
def test_erlpack_agrees_on_vectors(decode: DecodeFunction, data: bytes) -> None:
    erlpack = pytest.importorskip("erlpack")
    assert decode(data) == _from_erlpack(erlpack.unpack(data))


# --- the emulator writes what Discord writes -------------------------------------------------


def test_server_style_reencodes_hello_byte_for_byte() -> None:
    assert encode_etf(decode_etf(HELLO), style="server") == HELLO


def test_server_style_reencodes_ready_byte_for_byte() -> None:
    # The one difference: session_type is an atom in Discord's READY, and our decoder (by
    # design) does not remember which str values were atoms; it comes back a binary.
    atom = b"d\x00\x06normal"
    assert READY.count(atom) == 1
    expected = READY.replace(atom, b"m\x00\x00\x00\x06normal")
    assert encode_etf(decode_etf(READY), style="server") == expected
    assert encode_etf(decode_etf(READY, bigint_as_str=True), style="server") == expected


# --- truncation and corruption -------------------------------------------------------------


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("data", [HELLO, READY], ids=["hello", "ready"])
def test_truncated_at_every_offset(decode: DecodeFunction, data: bytes) -> None:
    for cut in range(len(data)):
        with pytest.raises(DecodeError) as info:
            decode(data[:cut])
        assert info.value.offset is not None and 0 <= info.value.offset <= cut


@pytest.mark.skipif(decode_etf_c is None, reason="C extension not built")
@pytest.mark.parametrize("data", [HELLO, READY], ids=["hello", "ready"])
def test_truncation_same_error_in_c_and_python(data: bytes) -> None:
    assert decode_etf_c is not None
    for cut in range(len(data) + 1):
        chunk = data[:cut]
        assert outcome(decode_etf_c, chunk) == outcome(decode_etf_py, chunk), cut


@pytest.mark.parametrize("data", [HELLO, READY], ids=["hello", "ready"])
def test_trailing_byte_after_vector(data: bytes) -> None:
    with pytest.raises(DecodeError, match="trailing bytes after term") as info:
        decode_etf_py(data + b"\x6a")
    assert info.value.offset == len(data)


@st.composite
def mutated_vector(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([HELLO, READY])))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "set", "set", "insert", "delete"]))
        if action == "set":
            data[i] = draw(st.integers(0, 255))
        elif action == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=6))
        else:
            del data[i : i + draw(st.integers(1, 8))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_vector())
def test_mutated_vectors_decode_or_raise_decode_error(data: bytes) -> None:
    seen = outcome(decode_etf_py, data)
    if decode_etf_c is not None:
        assert outcome(decode_etf_c, data) == seen
        assert outcome(decode_etf_c, data, bigint_as_str=True) == outcome(
            decode_etf_py, data, bigint_as_str=True
        )
