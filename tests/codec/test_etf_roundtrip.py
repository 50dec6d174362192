"""ETF encoders: client style round-trips exactly and matches erlpack; server style
round-trips modulo its documented snowflake and string-list rules."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from birbctl.codec.etf import DecodeFunction, decode_etf_c, decode_etf_py, encode_etf

DECODERS = [
    pytest.param(decode_etf_py, id="py"),
    pytest.param(
        decode_etf_c,
        id="c",
        marks=pytest.mark.skipif(decode_etf_c is None, reason="C extension not built"),
    ),
]

SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT32 = range(-(2**31), 2**31)
ETF_INT_MAX = 2 ** (8 * 1024) - 1  # LARGE_BIG_EXT's limit in our decoder

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-ETF_INT_MAX, max_value=ETF_INT_MAX)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text()
)


def json_like(leaves: st.SearchStrategy[Any] = scalars) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=6)
            | st.dictionaries(st.text(max_size=12), children, max_size=6)
        ),
        max_leaves=25,
    )


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (so True is not 1, 1.0 is not 1)."""
    return repr(a) == repr(b) and a == b


# --- client style --------------------------------------------------------------------------


@pytest.mark.parametrize("decode", DECODERS)
@SETTINGS
@given(value=json_like())
def test_client_style_round_trips(decode: DecodeFunction, value: Any) -> None:
    assert same(decode(encode_etf(value)), value)


def _big_as_str(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if value in INT32 else str(value)
    if isinstance(value, dict):
        return {k: _big_as_str(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_big_as_str(v) for v in value]
    return value


@pytest.mark.parametrize("decode", DECODERS)
@SETTINGS
@given(value=json_like())
def test_client_style_bigint_as_str(decode: DecodeFunction, value: Any) -> None:
    assert same(decode(encode_etf(value), bigint_as_str=True), _big_as_str(value))


def _from_erlpack(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return str(value)  # erlpack.Atom -> str
    if isinstance(value, dict):
        return {_from_erlpack(k): _from_erlpack(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_from_erlpack(v) for v in value]
    return value


@SETTINGS
@given(value=json_like())
def test_erlpack_reads_our_client_style(value: Any) -> None:
    erlpack = pytest.importorskip("erlpack")
    assert same(_from_erlpack(erlpack.unpack(encode_etf(value))), value)


erlpack_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
)


@SETTINGS
@given(value=json_like(erlpack_scalars))
def test_client_style_is_byte_identical_to_erlpack(value: Any) -> None:
    """erlpack is what Discord's own clients send; within its int range we write the same."""
    erlpack = pytest.importorskip("erlpack")
    assert encode_etf(value) == erlpack.pack(value)


def test_client_style_bytes() -> None:
    assert encode_etf({"op": 1, "d": None}) == (
        b"\x83\x74\x00\x00\x00\x02\x6d\x00\x00\x00\x02op\x61\x01\x6d\x00\x00\x00\x01d\x73\x03nil"
    )
    assert encode_etf([True, False, 2**31, -(2**31), 1.5, ()]) == (
        b"\x83\x6c\x00\x00\x00\x06"
        b"\x73\x04true\x73\x05false"
        b"\x6e\x04\x00\x00\x00\x00\x80"
        b"\x62\x80\x00\x00\x00"
        b"\x46" + struct.pack(">d", 1.5) + b"\x6a\x6a"
    )
    assert encode_etf(2**2048)[:6] == b"\x83\x6f\x00\x00\x01\x01"


def test_encode_rejects_what_etf_cannot_carry() -> None:
    for bad in (object(), b"bytes", {1, 2}, {(1, 2): 3}, {None: 1}, 1j):
        with pytest.raises(TypeError):
            encode_etf(bad)
        with pytest.raises(TypeError):
            encode_etf(bad, style="server")
    with pytest.raises(ValueError, match="integer too large"):
        encode_etf(2 ** (8 * 1024))
    deep: list[Any] = []
    for _ in range(600):
        deep = [deep, 1]
    with pytest.raises(ValueError, match="nested deeper than 254 levels"):
        encode_etf(deep)


@pytest.mark.parametrize("style", ["client", "server"])
def test_encode_depth_limit_counts_every_list_and_map(style: Any) -> None:
    """MAX_DEPTH levels encode, one more does not, whatever the innermost container is:
    empty lists (NIL_EXT) and small-int lists (STRING_EXT) count as a level too."""

    def nest(levels: int, inner: Any) -> Any:
        value = inner
        for i in range(levels - 1):
            value = [value] if i % 2 else {"k": value}
        return value

    for inner in ([], [1, 2], {}):
        encode_etf(nest(254, inner), style=style)
        with pytest.raises(ValueError, match="nested deeper than 254 levels"):
            encode_etf(nest(255, inner), style=style)
    with pytest.raises(ValueError, match="style"):
        encode_etf(1, style="json")  # type: ignore[arg-type]


def test_subclasses_encode_as_their_base() -> None:
    import enum
    from collections import OrderedDict

    class Op(enum.IntEnum):
        HELLO = 10

    class Name(str, enum.Enum):  # noqa: UP042 (the case where str() differs)
        READY = "READY"

    assert decode_etf_py(encode_etf(OrderedDict(op=Op.HELLO, t=Name.READY))) == {
        "op": 10,
        "t": "READY",
    }
    assert encode_etf({"t": Name.READY}, style="server") == encode_etf(
        {"t": "READY"}, style="server"
    )


# --- server style --------------------------------------------------------------------------


def test_server_style_bytes() -> None:
    payload = {"op": 0, "t": "READY", "s": 1, "d": {"shard": [0, 1], "ok": True, "x": None}}
    assert encode_etf(payload, style="server") == (
        b"\x83\x74\x00\x00\x00\x04"
        b"\x64\x00\x02op\x61\x00"
        b"\x64\x00\x01t\x64\x00\x05READY"
        b"\x64\x00\x01s\x61\x01"
        b"\x64\x00\x01d\x74\x00\x00\x00\x03"
        b"\x64\x00\x05shard\x6b\x00\x02\x00\x01"
        b"\x64\x00\x02ok\x64\x00\x04true"
        b"\x64\x00\x01x\x64\x00\x03nil"
    )


def test_server_style_snowflakes() -> None:
    snowflake = 1142733646600614004
    small = encode_etf({"id": "12", "guild_id": str(snowflake)}, style="server")
    assert small == (
        b"\x83\x74\x00\x00\x00\x02"
        b"\x64\x00\x02id\x61\x0c"
        b"\x64\x00\x08guild_id\x6e\x08\x00" + snowflake.to_bytes(8, "little")
    )
    value = {
        "roles": ["1", "2"],  # ints 0..255: STRING_EXT, as any small-int list
        "role_ids": [str(snowflake), "x"],
        "mention_roles": [str(snowflake)],  # not a snowflake key: stays a str
        "nonce": str(snowflake),
        "id": "0123",  # not canonical: stays a str
        "channel_id": str(2**64),  # over 64 bits: stays a str
        "user_id": "١٢",  # Arabic-Indic digits: stays a str
    }
    data = encode_etf(value, style="server")
    assert b"\x64\x00\x05roles\x6b\x00\x02\x01\x02" in data
    assert decode_etf_py(data) == dict(value, roles=[1, 2], role_ids=[snowflake, "x"])
    assert decode_etf_py(data, bigint_as_str=True) == dict(value, roles=[1, 2])


def test_server_style_atoms() -> None:
    data = encode_etf({"café": 1, "鳥": 2, "k" * 300: 3, "鳥" * 100: 4}, style="server")
    assert b"\x64\x00\x04caf\xe9\x61\x01" in data  # ATOM_EXT is Latin-1
    assert b"\x77\x03" + "鳥".encode() + b"\x61\x02" in data  # SMALL_ATOM_UTF8_EXT
    assert b"\x64\x01\x2c" + b"k" * 300 in data
    assert b"\x76\x01\x2c" + ("鳥" * 100).encode() in data  # ATOM_UTF8_EXT
    assert decode_etf_py(data) == {"café": 1, "鳥": 2, "k" * 300: 3, "鳥" * 100: 4}
    # `t` is an atom, but not one that would read back as True/False/None
    for t in ("true", "false", "nil"):
        assert decode_etf_py(encode_etf({"t": t}, style="server")) == {"t": t}
    assert encode_etf({"d": {"t": "X"}}, style="server").endswith(b"\x6d\x00\x00\x00\x01X")


SNOWFLAKE_KEYS = ["id", "guild_id", "channel_id", "role_ids", "roles", "mention_roles", "t", "nil"]

snowflake_strs = st.integers(min_value=0, max_value=2**64 - 1).map(str) | st.sampled_from(
    ["0", "007", "", "18446744073709551616", "١٢", " 1", "1e5", "-5"]
)
server_scalars = scalars | snowflake_strs | st.lists(snowflake_strs, max_size=4)


def server_like() -> st.SearchStrategy[Any]:
    return st.recursive(
        server_scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(
                st.sampled_from(SNOWFLAKE_KEYS) | st.text(max_size=8), children, max_size=6
            )
        ),
        max_leaves=25,
    )


def _snowflake(value: Any) -> int | None:
    """The documented rule, written independently of the encoder."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
        if str(number) == value and number < 2**64:
            return number
    return None


def expected_server(value: Any, bigint_as_str: bool) -> Any:
    def number(n: int) -> Any:
        return str(n) if bigint_as_str and n not in INT32 else n

    def element(e: Any) -> Any:
        n = _snowflake(e)
        return walk(e) if n is None else number(n)

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                n = _snowflake(x)
                if (k == "id" or k.endswith("_id")) and n is not None:
                    out[k] = number(n)
                elif (k.endswith("_ids") or k == "roles") and isinstance(x, list):
                    out[k] = [element(e) for e in x]
                else:
                    out[k] = walk(x)
            return out
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, int) and not isinstance(v, bool):
            return number(v)
        return v

    return walk(value)


@pytest.mark.parametrize("decode", DECODERS)
@SETTINGS
@given(
    value=st.fixed_dictionaries(
        {
            "op": st.integers(0, 50),
            "t": st.none()
            | st.sampled_from(["READY", "MESSAGE_CREATE", "nil", "true"])
            | st.text(),
            "s": st.none() | st.integers(0, 2**31 - 1),
            "d": server_like(),
        }
    )
)
def test_server_style_round_trips_modulo_snowflakes(decode: DecodeFunction, value: Any) -> None:
    data = encode_etf(value, style="server")
    assert same(decode(data), expected_server(value, False))
    assert same(decode(data, bigint_as_str=True), expected_server(value, True))
