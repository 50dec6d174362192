"""The C base64 fast path agrees with binascii's strict mode: same bytes for every valid
input, and never accepts what binascii refuses."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from birbctl.capture import b64

c_only = pytest.mark.skipif(not b64.HAVE_C_B64, reason="the C accelerator was not built")


@c_only
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_valid_base64_decodes_like_binascii(data: bytes) -> None:
    encoded = base64.b64encode(data)
    assert b64.b64decode(encoded) == data == binascii.a2b_base64(encoded, strict_mode=True)


@c_only
@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="ABCDEFabcdef0189+/=-_ \n!", max_size=24).map(str.encode))
def test_never_accepts_what_binascii_refuses(text: bytes) -> None:
    try:
        ours = b64.b64decode(text)
    except ValueError:
        return
    assert ours == binascii.a2b_base64(text, strict_mode=True)


@c_only
@pytest.mark.parametrize(
    "bad", [b"A", b"AB=C", b"A===", b"=AAA", b"AAAA=", b"AA\nA", b"AAA-", b"AA==AAAA"]
)
def test_malformed_is_a_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):
        b64.b64decode(bad)


def test_memoryview_and_empty() -> None:
    assert b64.b64decode(b"") == b""
    assert b64.b64decode(memoryview(b"aGk=")) == b"hi"
