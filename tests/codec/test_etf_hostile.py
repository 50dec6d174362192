"""The ETF decoder on hostile bytes: only DecodeError, with the right message and offset.

Every case runs on both the pure-Python and the C decoder, which must agree exactly.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import zlib
from typing import Any

import pytest

from birbctl.codec.etf import DecodeFunction, decode_etf_c, decode_etf_py
from birbctl.errors import DecodeError

DECODERS = [
    pytest.param(decode_etf_py, id="py"),
    pytest.param(
        decode_etf_c,
        id="c",
        marks=pytest.mark.skipif(decode_etf_c is None, reason="C extension not built"),
    ),
]

V = b"\x83"
NIL = b"\x6a"


def binary(raw: bytes) -> bytes:
    return b"\x6d" + struct.pack(">I", len(raw)) + raw


def atom(name: bytes) -> bytes:
    return b"\x64" + struct.pack(">H", len(name)) + name


def small_int(n: int) -> bytes:
    return bytes([0x61, n])


def lst(*items: bytes) -> bytes:
    return b"\x6c" + struct.pack(">I", len(items)) + b"".join(items) + NIL


def mp(*pairs: tuple[bytes, bytes]) -> bytes:
    return b"\x74" + struct.pack(">I", len(pairs)) + b"".join(k + v for k, v in pairs)


def compressed(term: bytes, declared: int | None = None) -> bytes:
    size = len(term) if declared is None else declared
    return V + b"\x50" + struct.pack(">I", size) + zlib.compress(term)


def float_ext(text: bytes) -> bytes:
    return b"\x63" + text.ljust(31, b"\0")


U32_MAX = b"\xff\xff\xff\xff"

# (input, message, offset): both decoders must raise exactly this.
ERRORS: list[tuple[str, bytes, str, int]] = [
    ("empty", b"", "not ETF: empty input", 0),
    ("json", b'{"op":10}', "not ETF: first byte is 0x7b, expected 131", 0),
    ("version only", V, "truncated: input ends where a term should start", 1),
    ("trailing", V + NIL + NIL, "trailing bytes after term", 2),
    ("pid", V + b"\x67" + b"\0" * 20, "unsupported ETF tag 103 (PID_EXT)", 1),
    ("new fun", V + b"\x70" + b"\0" * 20, "unsupported ETF tag 112 (NEW_FUN_EXT)", 1),
    ("unknown tag", V + b"\x01", "unknown ETF tag 1", 1),
    ("version as tag", V + V, "unknown ETF tag 131", 1),
    ("nested compressed", V + lst(b"\x50\0\0\0\1x"), "COMPRESSED term below the top level", 6),
    (
        "binary short",
        V + b"\x6d\x00\x00\x00\x78" + b"abcdefg",
        "truncated BINARY_EXT: needs 120 bytes, 7 left",
        1,
    ),
    ("binary header", V + b"\x6d\x00\x00", "truncated BINARY_EXT: needs 4 bytes, 2 left", 1),
    (
        "binary 2^32-1",
        V + b"\x6d" + U32_MAX + b"abc",
        "truncated BINARY_EXT: needs 4294967295 bytes, 3 left",
        1,
    ),
    (
        "list 2^32-1",
        V + b"\x6c" + U32_MAX + b"\x6a\x6a",
        "truncated LIST_EXT: 4294967295 elements need at least 4294967296 bytes, 2 left",
        1,
    ),
    (
        "map 2^32-1",
        V + b"\x74" + U32_MAX + b"\x6a\x6a",
        "truncated MAP_EXT: 4294967295 entries need at least 8589934590 bytes, 2 left",
        1,
    ),
    (
        "large tuple 2^32-1",
        V + b"\x69" + U32_MAX,
        "truncated LARGE_TUPLE_EXT: 4294967295 elements need at least 4294967295 bytes, 0 left",
        1,
    ),
    (
        "small tuple",
        V + b"\x68\x03\x6a",
        "truncated SMALL_TUPLE_EXT: 3 elements need at least 3 bytes, 1 left",
        1,
    ),
    (
        "large big 2^32-1",
        V + b"\x6f" + U32_MAX + b"\x00",
        "LARGE_BIG_EXT of 4294967295 bytes exceeds the limit of 1024",
        1,
    ),
    (
        "large big 1025",
        V + b"\x6f\x00\x00\x04\x01\x00" + b"\x01" * 1025,
        "LARGE_BIG_EXT of 1025 bytes exceeds the limit of 1024",
        1,
    ),
    (
        "small big short",
        V + b"\x6e\x08\x00\x01",
        "truncated SMALL_BIG_EXT: needs 8 bytes, 1 left",
        1,
    ),
    ("big sign", V + b"\x6e\x01\x02\x05", "invalid sign byte 2 in SMALL_BIG_EXT", 1),
    (
        "atom 65535",
        V + b"\x64\xff\xffabc",
        "truncated ATOM_EXT: needs 65535 bytes, 3 left",
        1,
    ),
    (
        "string 65535",
        V + b"\x6b\xff\xff\x01",
        "truncated STRING_EXT: needs 65535 bytes, 1 left",
        1,
    ),
    ("small int", V + b"\x61", "truncated SMALL_INTEGER_EXT: needs 1 bytes, 0 left", 1),
    ("integer", V + b"\x62\x00\x00", "truncated INTEGER_EXT: needs 4 bytes, 2 left", 1),
    ("new float", V + b"\x46\x00", "truncated NEW_FLOAT_EXT: needs 8 bytes, 1 left", 1),
    ("float short", V + b"\x631.5", "truncated FLOAT_EXT: needs 31 bytes, 3 left", 1),
    ("float garbage", V + float_ext(b"one point five"), "invalid FLOAT_EXT", 1),
    ("float empty", V + float_ext(b""), "invalid FLOAT_EXT", 1),
    ("bad utf8", V + binary(b"ab\xffcd"), "invalid UTF-8 in BINARY_EXT", 8),
    (
        "bad utf8 in list",
        V + lst(binary(b"ok"), binary(b"\xc3\x28")),
        "invalid UTF-8 in BINARY_EXT",
        18,
    ),
    ("bad utf8 atom", V + b"\x77\x02\xe2\x82", "invalid UTF-8 in SMALL_ATOM_UTF8_EXT", 3),
    ("bad utf8 key", V + mp((binary(b"\xff"), NIL)), "invalid UTF-8 in BINARY_EXT", 11),
    (
        "improper list",
        V + b"\x6c\x00\x00\x00\x01" + NIL + small_int(1),
        "improper list: tail is not NIL_EXT",
        7,
    ),
    (
        "improper empty list",
        V + b"\x6c\x00\x00\x00\x00" + small_int(1),
        "improper list: tail is not NIL_EXT",
        6,
    ),
    (
        "list no tail",
        V + b"\x6c\x00\x00\x00\x01" + binary(b"ab"),
        "truncated: input ends where a term should start",
        13,
    ),
    (
        "map missing value",
        V + mp()[:-4] + b"\x00\x00\x00\x01" + atom(b"k"),
        "truncated: input ends where a term should start",
        10,
    ),
    (
        "float key",
        V + mp((b"\x46" + struct.pack(">d", 1.5), NIL)),
        "unsupported map key type NEW_FLOAT_EXT",
        6,
    ),
    ("list key", V + mp((lst(NIL), NIL)), "unsupported map key type LIST_EXT", 6),
    ("nil key", V + mp((NIL, NIL)), "unsupported map key type NIL_EXT", 6),
    ("map key", V + mp((mp(), NIL)), "unsupported map key type MAP_EXT", 6),
    ("pid key", V + mp((b"\x67", NIL)), "unsupported map key type PID_EXT", 6),
    ("unknown key", V + mp((b"\xc8", NIL)), "unknown ETF tag 200", 6),
    ("compressed key", V + mp((b"\x50", NIL)), "unsupported map key type COMPRESSED", 6),
    # COMPRESSED (tag 80) right after the version byte
    ("compressed header", V + b"\x50\x00\x00", "truncated COMPRESSED: needs 4 bytes, 2 left", 1),
    (
        "compressed declares 2 GiB",
        compressed(NIL, declared=2**31),
        "COMPRESSED term declares 2147483648 bytes, more than max_size 134217728",
        1,
    ),
    (
        "compressed declares 2^32-1",
        compressed(NIL, declared=2**32 - 1),
        "COMPRESSED term declares 4294967295 bytes, more than max_size 134217728",
        1,
    ),
    (
        "compressed inflates more",
        compressed(lst(*[NIL] * 100), declared=10),
        "COMPRESSED term inflates to more than the declared 10 bytes",
        1,
    ),
    (
        "compressed inflates less",
        compressed(NIL, declared=10),
        "COMPRESSED term inflates to 1 bytes, declared 10",
        1,
    ),
    ("compressed garbage", V + b"\x50\x00\x00\x00\x01" + b"garbage!", "", 6),
    (
        "compressed cut",
        compressed(binary(b"x" * 100))[:-5],
        "truncated zlib data in COMPRESSED term",
        0,
    ),
    (
        "compressed trailing",
        compressed(NIL) + b"zz",
        "trailing bytes after COMPRESSED zlib data",
        0,
    ),
    (
        "compressed inner error",
        compressed(lst(small_int(1))[:-1]),
        "truncated: input ends where a term should start "
        "(inside the COMPRESSED term, at inflated byte 7)",
        1,
    ),
    (
        "compressed inner trailing",
        compressed(NIL + NIL),
        "trailing bytes after term (inside the COMPRESSED term, at inflated byte 1)",
        1,
    ),
    (
        "compressed inner compressed",
        compressed(b"\x50" + struct.pack(">I", 1) + zlib.compress(NIL)),
        "COMPRESSED term below the top level (inside the COMPRESSED term, at inflated byte 0)",
        1,
    ),
]


def _fix_offsets(data: bytes, message: str, offset: int) -> int:
    if message == "truncated zlib data in COMPRESSED term":
        return len(data)
    if message == "trailing bytes after COMPRESSED zlib data":
        return len(data) - 2
    return offset


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    ("data", "message", "offset"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_error_message_and_offset(
    decode: DecodeFunction, data: bytes, message: str, offset: int
) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    if message:
        assert info.value.message == message
    else:
        assert info.value.message.startswith("invalid zlib data in COMPRESSED term: ")
    assert info.value.offset == _fix_offsets(data, message, offset)


# --- nesting ------------------------------------------------------------------------------

DEEP = 100_000
DEEP_CHAINS = {
    "list": (V + b"\x6c\x00\x00\x00\x01" * DEEP + NIL + NIL * DEEP, 5),
    "small tuple": (V + b"\x68\x01" * DEEP + NIL, 2),
    "large tuple": (V + b"\x69\x00\x00\x00\x01" * DEEP + NIL, 5),
    "map": (V + (b"\x74\x00\x00\x00\x01" + atom(b"k")) * DEEP + NIL, 9),
    "map with binary keys": (V + (b"\x74\x00\x00\x00\x01" + binary(b"k")) * DEEP + NIL, 11),
}


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("name", list(DEEP_CHAINS))
def test_nesting_100000_deep_is_a_decode_error(decode: DecodeFunction, name: str) -> None:
    data, step = DEEP_CHAINS[name]
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.message == "nesting deeper than 512"
    assert info.value.offset == 1 + 512 * step


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("name", ["list", "small tuple", "map"])
def test_nesting_100000_deep_decodes_when_allowed(decode: DecodeFunction, name: str) -> None:
    """No recursion anywhere: a raised limit gives the value, not RecursionError or a crash."""
    data, _ = DEEP_CHAINS[name]
    value = decode(data, max_depth=DEEP)
    levels = 0
    while value:
        value = value["k"] if isinstance(value, dict) else value[0]
        levels += 1
    assert levels == DEEP


@pytest.mark.parametrize("decode", DECODERS)
def test_depth_limit_is_exact(decode: DecodeFunction) -> None:
    def nested(n: int) -> bytes:
        return V + b"\x68\x01" * n + small_int(7)

    value = decode(nested(5), max_depth=5)
    assert value == [[[[[7]]]]]
    with pytest.raises(DecodeError, match=r": nesting deeper than 4$"):
        decode(nested(5), max_depth=4)
    # empty containers count as a level too; NIL_EXT and STRING_EXT are leaves
    assert decode(V + b"\x68\x01\x68\x00", max_depth=2) == [[]]
    with pytest.raises(DecodeError, match=r": nesting deeper than 1$"):
        decode(V + b"\x68\x01\x68\x00", max_depth=1)
    assert decode(V + b"\x68\x01" + NIL, max_depth=1) == [[]]


@pytest.mark.parametrize("decode", DECODERS)
def test_item_limit(decode: DecodeFunction) -> None:
    ten = V + lst(*[small_int(i) for i in range(10)])
    assert decode(ten, max_items=10) == list(range(10))
    with pytest.raises(DecodeError) as info:
        decode(ten, max_items=9)
    assert (info.value.message, info.value.offset) == ("more than 9 items", 1)
    # counted across the whole term: 3 + 2 entries + 3 string elements = 8
    term = V + lst(mp((atom(b"a"), small_int(1)), (atom(b"b"), b"\x6b\x00\x03abc")), NIL, NIL)
    assert decode(term, max_items=8) == [{"a": 1, "b": [97, 98, 99]}, [], []]
    with pytest.raises(DecodeError) as info:
        decode(term, max_items=7)
    assert (info.value.message, info.value.offset) == ("more than 7 items", 21)


# --- COMPRESSED ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zero_bomb() -> bytes:
    """zlib of 200 MB of zeros (about 900 KB), built in chunks to spare the memory."""
    deflater = zlib.compressobj(1)
    chunk = bytes(1 << 20)
    parts = [deflater.compress(chunk) for _ in range(200)]
    parts.append(deflater.flush())
    return b"".join(parts)


@pytest.mark.parametrize("decode", DECODERS)
def test_compressed_bomb_declared_small(decode: DecodeFunction, zero_bomb: bytes) -> None:
    data = V + b"\x50" + struct.pack(">I", 1024) + zero_bomb
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.message == "COMPRESSED term inflates to more than the declared 1024 bytes"
    assert info.value.offset == 1


@pytest.mark.parametrize("decode", DECODERS)
def test_compressed_bomb_declared_honestly_is_capped(
    decode: DecodeFunction, zero_bomb: bytes
) -> None:
    data = V + b"\x50" + struct.pack(">I", 200 << 20) + zero_bomb
    with pytest.raises(DecodeError, match="more than max_size 134217728"):
        decode(data)
    with pytest.raises(DecodeError, match="more than max_size 1000"):
        decode(compressed(binary(b"x" * 2000)), max_size=1000)


@pytest.mark.parametrize("decode", DECODERS)
def test_compressed_term_decodes(decode: DecodeFunction) -> None:
    term = mp(
        (atom(b"op"), small_int(0)), (atom(b"d"), lst(binary(b"hi"), b"\x6e\x08\x00" + b"\xff" * 8))
    )
    assert decode(compressed(term)) == {"op": 0, "d": ["hi", 2**64 - 1]}
    assert decode(compressed(term), bigint_as_str=True) == {"op": 0, "d": ["hi", str(2**64 - 1)]}
    assert decode(bytearray(compressed(term)), max_size=len(term)) == {
        "op": 0,
        "d": ["hi", 2**64 - 1],
    }


# --- values at the edges --------------------------------------------------------------------

VALUES: list[tuple[str, bytes, Any, Any]] = [
    # (name, term, value, value with bigint_as_str)
    ("small int", small_int(255), 255, 255),
    ("integer min", b"\x62\x80\x00\x00\x00", -(2**31), -(2**31)),
    ("integer -1", b"\x62\xff\xff\xff\xff", -1, -1),
    ("small big 0", b"\x6e\x00\x00", 0, "0"),
    ("small big -0", b"\x6e\x01\x01\x00", 0, "0"),
    ("small big u64 max", b"\x6e\x08\x00" + b"\xff" * 8, 2**64 - 1, str(2**64 - 1)),
    ("small big -(u64 max)", b"\x6e\x08\x01" + b"\xff" * 8, -(2**64 - 1), str(-(2**64 - 1))),
    ("small big -2^63", b"\x6e\x08\x01" + (2**63).to_bytes(8, "little"), -(2**63), str(-(2**63))),
    ("small big 2^64", b"\x6e\x09\x00" + (2**64).to_bytes(9, "little"), 2**64, str(2**64)),
    ("small big 255 bytes", b"\x6e\xff\x01" + b"\xff" * 255, -(2**2040 - 1), str(-(2**2040 - 1))),
    (
        "large big 1024 bytes",
        b"\x6f\x00\x00\x04\x00\x00" + b"\x01" * 1024,
        int.from_bytes(b"\x01" * 1024, "little"),
        str(int.from_bytes(b"\x01" * 1024, "little")),
    ),
    ("large big small", b"\x6f\x00\x00\x00\x01\x01\x05", -5, "-5"),
    ("new float", b"\x46" + struct.pack(">d", -0.0), -0.0, -0.0),
    ("new float inf", b"\x46" + struct.pack(">d", math.inf), math.inf, math.inf),
    ("float ext", float_ext(b"1.50000000000000000000e+00"), 1.5, 1.5),
    ("float ext unpadded", b"\x63" + b"2" * 31, float("2" * 31), float("2" * 31)),
    ("atom true", atom(b"true"), True, True),
    ("atom nil", b"\x73\x03nil", None, None),
    ("utf8 atom false", b"\x76\x00\x05false", False, False),
    ("atom latin-1", atom(b"caf\xe9"), "café", "café"),
    ("utf8 atom", b"\x77\x05caf\xc3\xa9", "café", "café"),
    ("empty atom", atom(b""), "", ""),
    ("string ext", b"\x6b\x00\x03\x00\x7f\xff", [0, 127, 255], [0, 127, 255]),
    ("empty list ext", b"\x6c\x00\x00\x00\x00" + NIL, [], []),
    ("empty tuple", b"\x68\x00", [], []),
    ("tuple", b"\x68\x02" + small_int(1) + atom(b"ok"), [1, "ok"], [1, "ok"]),
    ("empty binary", binary(b""), "", ""),
    ("non-ascii binary", binary("héllo ✓ 🐦".encode()), "héllo ✓ 🐦", "héllo ✓ 🐦"),
    (
        "map keys",
        mp(
            (atom(b"nil"), small_int(1)),
            (b"\x77\x04true", small_int(2)),
            (small_int(3), small_int(3)),
            (b"\x62\xff\xff\xff\xfd", small_int(4)),
            (b"\x6e\x08\x00" + b"\x01" * 8, small_int(5)),
            (binary(b"k"), small_int(6)),
        ),
        {"nil": 1, "true": 2, 3: 3, -3: 4, 0x0101010101010101: 5, "k": 6},
        {"nil": 1, "true": 2, 3: 3, -3: 4, str(0x0101010101010101): 5, "k": 6},
    ),
]


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    ("term", "value", "as_str"), [c[1:] for c in VALUES], ids=[c[0] for c in VALUES]
)
def test_edge_values(decode: DecodeFunction, term: bytes, value: Any, as_str: Any) -> None:
    got = decode(V + term)
    assert repr(got) == repr(value)
    assert repr(decode(V + term, bigint_as_str=True)) == repr(as_str)


@pytest.mark.parametrize("decode", DECODERS)
def test_nan(decode: DecodeFunction) -> None:
    assert math.isnan(decode(V + b"\x46" + struct.pack(">d", math.nan)))
    assert math.isnan(decode(V + float_ext(b"nan")))


@pytest.mark.parametrize("decode", DECODERS)
def test_not_bytes_is_a_type_error(decode: DecodeFunction) -> None:
    with pytest.raises(TypeError):
        decode("\x83j")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decode(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("decode", DECODERS)
def test_non_contiguous_memoryview(decode: DecodeFunction) -> None:
    data = bytes(x for b in V + lst(small_int(1), small_int(2)) for x in (b, 0))
    assert decode(memoryview(data)[::2]) == [1, 2]


# --- both decoders agree on everything above --------------------------------------------------


def _outcome(decode: DecodeFunction, data: bytes, **kwargs: Any) -> tuple[str, Any, Any]:
    try:
        return ("ok", repr(decode(data, **kwargs)), None)
    except DecodeError as exc:
        return ("error", exc.message, exc.offset)


AGREEMENT_INPUTS = (
    [c[1] for c in ERRORS]
    + [V + c[1] for c in VALUES]
    + [data for data, _ in DEEP_CHAINS.values()]
    + [V + b"\x6a" * 3, V + b"\x6c\x00\x00\x00\x01\x6a", V + bytes(range(256))]
    + [V + bytes([tag]) + b"\x00\x00\x00\x02\x00\x61\x01\x6a" for tag in range(256)]
)


@pytest.mark.skipif(decode_etf_c is None, reason="C extension not built")
def test_c_and_python_agree() -> None:
    assert decode_etf_c is not None
    for data in AGREEMENT_INPUTS:
        for kwargs in ({}, {"bigint_as_str": True}, {"max_depth": 3, "max_items": 4}):
            assert _outcome(decode_etf_c, data, **kwargs) == _outcome(
                decode_etf_py, data, **kwargs
            ), (
                data[:40],
                kwargs,
            )


# --- choosing the implementation -------------------------------------------------------------


def _python(code: str, **env: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env={**os.environ, **env})


def test_works_without_the_c_extension() -> None:
    """A machine without a compiler gets the pure-Python decoder, same API."""
    _python(
        "import sys; sys.modules['birbctl.codec._etf_c'] = None\n"
        "from birbctl.codec import etf\n"
        "assert not etf.HAVE_C_DECODER and etf.decode_etf_c is None\n"
        "assert etf.decode_etf(b'\\x83\\x6a') == []\n"
    )


@pytest.mark.skipif(decode_etf_c is None, reason="C extension not built")
def test_env_var_forces_pure_python() -> None:
    _python(
        "from birbctl.codec import etf, _etf_py\n"
        "assert etf.HAVE_C_DECODER and etf._raw is _etf_py.decode\n",
        BIRBCTL_ETF_PURE_PYTHON="1",
    )
    _python("from birbctl.codec import etf, _etf_py\nassert etf._raw is not _etf_py.decode\n")
