"""The C fast paths agree with their Python equivalents: base64 with binascii's strict
mode (same bytes for every valid input, never accepting what binascii refuses), and a
received frame's line with the pure-Python reading of it, on good lines and broken ones."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from birbctl.capture import fastpath

c_only = pytest.mark.skipif(not fastpath.HAVE_C_LINES, reason="the C accelerator was not built")


@c_only
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_valid_base64_decodes_like_binascii(data: bytes) -> None:
    encoded = base64.b64encode(data)
    assert fastpath.b64decode(encoded) == data == binascii.a2b_base64(encoded, strict_mode=True)


@c_only
@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="ABCDEFabcdef0189+/=-_ \n!", max_size=24).map(str.encode))
def test_never_accepts_what_binascii_refuses(text: bytes) -> None:
    try:
        ours = fastpath.b64decode(text)
    except ValueError:
        return
    assert ours == binascii.a2b_base64(text, strict_mode=True)


@c_only
@pytest.mark.parametrize(
    "bad", [b"A", b"AB=C", b"A===", b"=AAA", b"AAAA=", b"AA\nA", b"AAA-", b"AA==AAAA"]
)
def test_malformed_is_a_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):
        fastpath.b64decode(bad)


def test_memoryview_and_empty() -> None:
    assert fastpath.b64decode(b"") == b""
    assert fastpath.b64decode(memoryview(b"aGk=")) == b"hi"


TAIL = b',"conn":3,"dir":"recv","kind":"binary","data":"'


def line_of(ts: object, data: bytes, tail: bytes = TAIL) -> bytes:
    """A received frame's line as CaptureWriter lays it out."""
    import orjson

    return b'{"t":' + orjson.dumps(ts) + tail + base64.b64encode(data) + b'"}'


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53)),
    st.binary(max_size=64),
)
def test_recv_frame_reads_the_writer_layout(ts: float, data: bytes) -> None:
    line = line_of(ts, data)
    assert fastpath.recv_frame(line, TAIL) == (float(ts), data)
    assert fastpath._recv_frame(line, TAIL) == (float(ts), data)


@c_only
@settings(max_examples=800, deadline=None)
@given(st.binary(max_size=12), st.integers(0, 80), st.sampled_from([TAIL, b",", b"x"]))
def test_recv_frame_c_and_python_agree_on_broken_lines(junk: bytes, at: int, tail: bytes) -> None:
    good = line_of(1700000000.25, b"frame bytes", TAIL)
    at = min(at, len(good))
    for line in (good[:at] + junk + good[at:], good[:at] + junk, junk + good[at:]):
        assert fastpath.recv_frame(line, tail) == fastpath._recv_frame(line, tail)


@pytest.mark.parametrize(
    "ts",
    [b"01", b"1.", b".5", b"+1", b"1e", b"NaN", b"Infinity", b"1_0", b" 1", b"0x10", b""],
)
def test_recv_frame_leaves_non_json_numbers_to_the_full_parse(ts: bytes) -> None:
    line = b'{"t":' + ts + TAIL + b'aGk="}'
    assert fastpath.recv_frame(line, TAIL) is None
    assert fastpath._recv_frame(line, TAIL) is None


def test_recv_frame_other_connection_or_layout_is_none() -> None:
    line = line_of(1.5, b"hi")
    assert fastpath.recv_frame(line, TAIL.replace(b"3", b"31")) is None  # conn 31 is not 3
    assert fastpath.recv_frame(line.replace(b'"recv"', b'"send"'), TAIL) is None
    assert fastpath.recv_frame(line[:-1], TAIL) is None  # cut short
    assert fastpath.recv_frame(line.replace(b"aGk=", b"aGk"), TAIL) is None  # not strict base64
    assert fastpath.recv_frame(line, b"") is None
    assert fastpath.recv_frame(b"", TAIL) is None
    with pytest.raises(TypeError):
        fastpath.recv_frame("text", TAIL)  # type: ignore[arg-type]
