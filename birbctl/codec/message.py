"""One gateway message, whatever its encoding: the gateway sends ETF as binary frames
that start with the version byte 131, JSON as text."""

from __future__ import annotations

from typing import Any

from birbctl.codec.json import decode_json, encode_json
from birbctl.errors import DecodeError
from birbctl.options import EtfStyle
from birbctl.protocol.wire import ETF_VERSION, Encoding


def decode_message(
    data: bytes | bytearray | memoryview | str, *, snowflakes_as_str: bool = True
) -> Any:
    """Decode one inflated message, choosing JSON or ETF by its first byte.

    `snowflakes_as_str` makes ETF's big integers strings, as Discord's JSON carries them,
    so the same event decodes to the same JSON in both encodings.
    """
    if isinstance(data, str):
        return decode_json(data)
    if not data:
        raise DecodeError("empty message", offset=0)
    if data[0] == ETF_VERSION:
        if snowflakes_as_str:
            from birbctl.codec.etf import decode_gateway_etf

            return decode_gateway_etf(data)
        from birbctl.codec.etf import decode_etf

        return decode_etf(data)
    return decode_json(data)


def encode_message(obj: Any, encoding: Encoding) -> bytes:
    """Encode a payload the way a client sends it (ETF: string keys, as Discord requires)."""
    if encoding == Encoding.ETF:
        from birbctl.codec.etf import encode_etf

        etf: bytes = encode_etf(obj, style=EtfStyle.CLIENT)
        return etf
    return encode_json(obj)
