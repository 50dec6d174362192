"""Server payloads in both encodings, with a dispatch encoded once for every session.

A dispatch differs between sessions only in `s`, so its `t` and `d` are encoded once
per encoding and `s` is spliced in per session: with hundreds of sessions on one
shard, the cost of an event is one encode plus a concatenation (and the per-connection
compression, which cannot be shared).
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from birbctl.codec.etf import encode_etf
from birbctl.options import EtfStyle
from birbctl.protocol.wire import ETF_VERSION, Compression, Encoding

_ETF_ATOM = 100
_ETF_SMALL_INT = 97
_ETF_INT = 98
_ETF_MAP = 116
_ETF_MAP4 = bytes((ETF_VERSION, _ETF_MAP)) + struct.pack(">I", 4)
_PACK_INT = struct.Struct(">Bi").pack


def _atom(name: str) -> bytes:
    raw = name.encode("latin-1")
    return struct.pack(">BH", _ETF_ATOM, len(raw)) + raw


def _etf_int(value: int) -> bytes:
    if 0 <= value <= 255:
        return bytes((_ETF_SMALL_INT, value))
    if -(2**31) <= value < 2**31:
        return _PACK_INT(_ETF_INT, value)
    # Sequence numbers never get here; leave the rare big int to the full encoder.
    return encode_etf({"d": value}, style=EtfStyle.SERVER)[_D_OFFSET:]


# encode_etf({"d": x}) is: version, MAP_EXT + arity, atom "d", then x's term.
_D_OFFSET = 1 + 5 + len(_atom("d"))
_ETF_OP0_S = _atom("op") + _etf_int(0) + _atom("s")
_ETF_D = _atom("d")


def etf_term(value: Any) -> bytes:
    """`value` as a server-style ETF term without the version byte, for splicing."""
    return encode_etf({"d": value}, style=EtfStyle.SERVER)[_D_OFFSET:]


class PreparedDispatch:
    """One dispatch (`t`, `d`), encoded lazily once per encoding; `message()` adds `s`.

    `intent` is the intent bit a session needs to receive it (0 = always sent).
    `synthetic` marks traffic (counted for `after_events`), not session bookkeeping.
    """

    __slots__ = ("_etf", "_json", "d", "intent", "synthetic", "t")

    def __init__(self, t: str, d: Any, *, intent: int = 0, synthetic: bool = False) -> None:
        self.t = t
        self.d = d
        self.intent = intent
        self.synthetic = synthetic
        self._json: bytes | None = None
        self._etf: bytes | None = None

    def message(self, encoding: Encoding, seq: int) -> bytes:
        if encoding is Encoding.JSON:
            tail = self._json
            if tail is None:
                tail = self._json = (
                    b',"t":' + orjson.dumps(self.t) + b',"d":' + orjson.dumps(self.d) + b"}"
                )
            return b'{"op":0,"s":' + str(seq).encode() + tail
        etf = self._etf
        if etf is None:
            etf = self._etf = _atom("t") + _atom(self.t) + _ETF_D + etf_term(self.d)
        return _ETF_MAP4 + _ETF_OP0_S + _etf_int(seq) + etf

    def __repr__(self) -> str:
        return f"PreparedDispatch({self.t!r})"


def encode_payload(op: int, d: Any, encoding: Encoding) -> bytes:
    """A non-dispatch payload (HELLO, ACK, op 7, op 9, op 1): `s` and `t` are null."""
    payload = {"op": op, "d": d, "s": None, "t": None}
    if encoding is Encoding.JSON:
        return orjson.dumps(payload)
    return encode_etf(payload, style=EtfStyle.SERVER)


def corrupt_frame(encoding: Encoding, compress: Compression, junk: bytes) -> bytes | str:
    """A frame the client's decoder must reject (the `corrupt` fault): broken deflate or
    zstd data, or a message that is neither JSON nor ETF. str is a text frame."""
    if compress is Compression.ZLIB_STREAM:
        return b"\xff\xff\xff" + junk + b"\x00\x00\xff\xff"
    if compress is Compression.ZSTD_STREAM:
        return b"\xff\xff\xff\xff" + junk
    if encoding is Encoding.JSON:
        return '{"op": 0, "d": {"corrupt'
    return bytes((ETF_VERSION, 0xFF)) + junk  # 255: no such ETF tag
