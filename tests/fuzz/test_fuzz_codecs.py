"""ETF and JSON decoding of hostile bytes: hypothesis, mutations of real payloads, and
every nesting depth from 1 to past each limit."""

from __future__ import annotations

import struct

import orjson
import pytest
from fuzzkit import Failures, examples, fuzz_settings, mutation_rounds
from fuzzseeds import etf_documents, json_documents
from fuzztargets import run_etf, run_json
from hypothesis import given
from hypothesis import strategies as st

from birbctl.codec.etf import DEFAULT_MAX_DEPTH, encode_etf
from birbctl.errors import DecodeError

# --- ETF ----------------------------------------------------------------------------------

_TAGS = (70, 97, 98, 99, 100, 104, 105, 106, 107, 108, 109, 110, 111, 115, 116, 118, 119, 80)


@st.composite
def etf_terms(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Term bytes from ETF's grammar with hostile lengths and counts: mostly valid in
    shape, wrong in the details a decoder must check."""
    tag = draw(st.sampled_from(_TAGS if depth < 4 else _TAGS[:3]))
    small = st.integers(0, 6)
    huge = st.sampled_from([0x7FFFFFFF, 0xFFFFFFFF, 0x10000, 255, 65535])
    count = draw(st.one_of(small, small, huge))
    if tag in (104, 105, 108, 116):  # tuples, list, map: a count then that many terms
        items = [
            draw(etf_terms(depth + 1)) for _ in range(min(count, 4) * (2 if tag == 116 else 1))
        ]
        head = (
            struct.pack(">BB", tag, count & 0xFF) if tag == 104 else struct.pack(">BI", tag, count)
        )
        tail = draw(st.sampled_from([b"j", b"", b"a\x01"])) if tag == 108 else b""
        return head + b"".join(items) + tail
    if tag in (100, 107, 118):
        return struct.pack(">BH", tag, count & 0xFFFF) + draw(st.binary(max_size=8))
    if tag in (115, 119):
        return bytes((tag, count & 0xFF)) + draw(st.binary(max_size=8))
    if tag == 109:
        return struct.pack(">BI", tag, count) + draw(st.binary(max_size=8))
    if tag in (110, 111):
        head = bytes((tag, count & 0xFF)) if tag == 110 else struct.pack(">BI", tag, count)
        return head + bytes((draw(st.integers(0, 2)),)) + draw(st.binary(max_size=10))
    if tag == 80:  # COMPRESSED: an inflated size, then zlib data (maybe a bomb)
        return struct.pack(">BI", tag, count) + draw(st.binary(max_size=16))
    return bytes((tag,)) + draw(st.binary(max_size=10))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@fuzz_settings(300)
@given(st.binary(max_size=64))
def test_etf_random_bytes(data: bytes) -> None:
    run_etf(b"\x83" + data)


@fuzz_settings(250)
@given(etf_terms())
def test_etf_grammar(term: bytes) -> None:
    run_etf(b"\x83" + term)
    run_etf(b"\x83" + term, max_items=3, max_size=64, max_depth=2)


@fuzz_settings(150)
@given(json_values)
def test_etf_roundtrips_and_survives_truncation(value: object) -> None:
    try:
        data = encode_etf(value)
    except (TypeError, ValueError):
        return
    for cut in range(1, len(data), max(1, len(data) // 16)):
        run_etf(data[:cut])


def test_etf_mutations_of_real_payloads() -> None:
    failures = Failures("etf")
    seeds = etf_documents()
    for data, _rng in mutation_rounds(seeds, examples(60), "etf"):
        failures.run(data, lambda d=data: run_etf(d))  # type: ignore[misc]
    failures.check()


def _nested_etf(depth: int, kind: str) -> bytes:
    """`depth` containers, one inside the other, around an empty list."""
    if kind == "list":
        return b"\x83" + b"l\x00\x00\x00\x01" * depth + b"j" + b"j" * depth
    if kind == "tuple":
        return b"\x83" + b"h\x01" * depth + b"j"
    return b"\x83" + b"t\x00\x00\x00\x01m\x00\x00\x00\x01k" * depth + b"j"


@pytest.mark.parametrize("kind", ["list", "tuple", "map"])
def test_etf_every_nesting_depth(kind: str) -> None:
    """Depths 1..limit+8 (the term's nil innermost adds no level): values up to the
    limit, one clean error past it, in both decoders."""
    for depth in range(1, DEFAULT_MAX_DEPTH + 9):
        out = run_etf(_nested_etf(depth, kind))
        if depth < DEFAULT_MAX_DEPTH:
            assert not isinstance(out, DecodeError), (depth, out)
        elif depth > DEFAULT_MAX_DEPTH:
            assert isinstance(out, DecodeError) and "deep" in out.message, (depth, out)


# --- JSON ---------------------------------------------------------------------------------


@fuzz_settings(300)
@given(st.binary(max_size=64) | st.text(max_size=32).map(str.encode))
def test_json_random_bytes(data: bytes) -> None:
    run_json(data)


@fuzz_settings(200)
@given(json_values)
def test_json_truncated_documents(value: object) -> None:
    data = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY) if False else _dumps(value)
    for cut in range(len(data) + 1):
        run_json(data[:cut])


def _dumps(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return b"null"


def test_json_mutations_of_real_payloads() -> None:
    failures = Failures("json")
    for data, _rng in mutation_rounds(json_documents(), examples(40), "json"):
        failures.run(data, lambda d=data: run_json(d))  # type: ignore[misc]
    failures.check()


JSON_DEPTH_LIMIT = 1024  # orjson's


def test_json_every_nesting_depth() -> None:
    """Every depth 1..limit+16 of arrays and of objects parses or fails cleanly."""
    for depth in range(1, JSON_DEPTH_LIMIT + 17):
        for data in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
            run_json(data)
