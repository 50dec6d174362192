"""Erlang External Term Format as the Discord gateway speaks it.

Decoding is safe on hostile bytes: anything that is not a well-formed term within the
limits raises `DecodeError` with the byte offset of the problem, never another exception,
a crash or unbounded memory use. The C accelerator (`_etf_c`) is used when it built;
the pure-Python decoder is the fallback and behaves identically (same values, same
messages, same offsets). Set BIRBCTL_ETF_PURE_PYTHON=1 to force the fallback.

Two encoders, because the two directions differ: "client" is what a client must send
(binary map keys; atom keys get close code 4002), "server" is what the gateway sends
(atom keys, `t` an atom, snowflakes as integers, small-int lists as STRING_EXT), used by
the emulator so that clients see Discord's bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from birbctl.codec import _etf_py
from birbctl.codec.depth import MAX_DEPTH, NestingError
from birbctl.errors import DecodeError
from birbctl.options import EtfStyle

__all__ = [
    "HAVE_C_DECODER",
    "DecodeFunction",
    "decode_etf",
    "decode_etf_c",
    "decode_etf_py",
    "decode_gateway_etf",
    "encode_etf",
]

DEFAULT_MAX_DEPTH = 512
DEFAULT_MAX_ITEMS = 5_000_000
DEFAULT_MAX_SIZE = 128 * 1024 * 1024


class DecodeFunction(Protocol):
    def __call__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        bigint_as_str: bool = ...,
        max_depth: int = ...,
        max_items: int = ...,
        max_size: int = ...,
    ) -> Any: ...


_RawDecoder = Callable[[bytes | bytearray | memoryview, bool, int, int, int], Any]

_c_raw: _RawDecoder | None
try:
    from birbctl.codec._etf_c import decode as _c_decode
except ImportError:  # no compiler when installed: the pure-Python decoder does the work
    _c_raw = None
else:
    _c_raw = _c_decode

HAVE_C_DECODER: bool = _c_raw is not None

_py_raw: _RawDecoder = _etf_py.decode
_raw: _RawDecoder = (
    _c_raw if _c_raw is not None and not os.environ.get("BIRBCTL_ETF_PURE_PYTHON") else _py_raw
)


def _keywords(raw: _RawDecoder, name: str, doc: str) -> DecodeFunction:
    """`raw` (which takes every limit positionally) with the codec's keywords and defaults."""

    def decode(
        data: bytes | bytearray | memoryview,
        *,
        bigint_as_str: bool = False,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> Any:
        return raw(data, bigint_as_str, max_depth, max_items, max_size)

    decode.__name__ = decode.__qualname__ = name
    decode.__doc__ = doc
    return decode


decode_etf: DecodeFunction = _keywords(
    _raw,
    "decode_etf",
    """Decode one ETF message (version byte 131 first) into JSON-like Python values.

    Atoms and binaries become str (atoms true/false/nil become True/False/None), tuples
    become lists, maps become dicts. With `bigint_as_str`, integers that came as
    SMALL_BIG/LARGE_BIG become decimal str, as Discord's JSON carries snowflakes, so ETF
    and JSON captures of the same event decode to equal values. `max_depth` caps container
    nesting, `max_items` the list elements plus map entries of the whole term, `max_size`
    the inflated size of a COMPRESSED term.
    """,
)
decode_etf_py: DecodeFunction = _keywords(
    _py_raw,
    "decode_etf_py",
    "`decode_etf` forced onto the pure-Python decoder (tests compare the two).",
)
#: None when the C extension did not build.
decode_etf_c: DecodeFunction | None = (
    None
    if _c_raw is None
    else _keywords(_c_raw, "decode_etf_c", "`decode_etf` forced onto the C decoder.")
)


def decode_gateway_etf(data: bytes | bytearray | memoryview) -> Any:
    """A gateway message as the live client and `decode` read it: snowflakes as str and
    nesting capped at MAX_DEPTH (a NestingError, like JSON's), not the codec's 512."""
    try:
        return _raw(data, True, MAX_DEPTH, DEFAULT_MAX_ITEMS, DEFAULT_MAX_SIZE)
    except DecodeError as exc:
        # Both decoders word their depth limit "nesting deeper than N".
        if exc.message.startswith("nesting deeper than"):
            raise NestingError() from None
        raise


def encode_etf(obj: Any, *, style: EtfStyle = EtfStyle.CLIENT) -> bytes:
    """Encode JSON-like values (dict, list, tuple, str, int, float, bool, None) as ETF.

    "client": binary keys and strings, nil/true/false as SMALL_ATOM_EXT (as erlpack, the
    reference client encoder, writes them). "server": as the Discord gateway writes it;
    map keys, the top-level `t` and nil/true/false are ATOM_EXT, str values under "id",
    "*_id" and in lists under "*_ids"/"roles" that are canonical decimal 64-bit numbers
    become integers, and lists of ints 0..255 become STRING_EXT. Raises TypeError for
    values that have no ETF form and ValueError for ints over 1024 bytes or nesting
    deeper than MAX_DEPTH (254: every list and map counts, empty ones too, as in
    codec/depth.py).
    """
    return _etf_py.encode(obj, style)
