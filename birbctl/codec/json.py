"""JSON payloads via orjson: the gateway's default encoding."""

from __future__ import annotations

from typing import Any

import orjson

from birbctl.codec.depth import NestingError
from birbctl.errors import DecodeError


def decode_json(data: bytes | bytearray | memoryview | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise json_error(exc, data) from None


def json_error(
    exc: orjson.JSONDecodeError, data: bytes | bytearray | memoryview | str
) -> DecodeError:
    """The DecodeError for what orjson refused in `data` (only called on failure).

    orjson reports "... (char N)", counting characters; errors give byte offsets, so N is
    turned into the UTF-8 byte offset of that character. Invalid UTF-8 (orjson says char
    0 whatever the byte) points at the first bad byte, and orjson's depth limit becomes
    the one nesting error every path gives.
    """
    if exc.msg == "depth limit exceeded":
        return NestingError()
    if "UTF-8" in exc.msg:
        bad = _first_bad_utf8(data)
        return DecodeError(f"invalid JSON: {exc.msg}", offset=exc.pos if bad is None else bad)
    return DecodeError(f"invalid JSON: {exc.msg}", offset=_byte_offset(data, exc.pos))


def _byte_offset(data: bytes | bytearray | memoryview | str, char: int) -> int:
    """The UTF-8 byte offset of character `char` (orjson has checked the text is UTF-8)."""
    text = data if isinstance(data, str) else bytes(data).decode("utf-8", "surrogateescape")
    if text.isascii():
        return char
    return len(text[:char].encode("utf-8", "surrogatepass"))


def _first_bad_utf8(data: bytes | bytearray | memoryview | str) -> int | None:
    """Offset of the first byte that is not UTF-8 (for str: the UTF-8 offset of the first
    lone surrogate, which a JSON text frame can smuggle in as an escape)."""
    if isinstance(data, str):
        try:
            data.encode()
        except UnicodeEncodeError as exc:
            return len(data[: exc.start].encode())
        return None
    try:
        bytes(data).decode()
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def encode_json(obj: Any) -> bytes:
    return orjson.dumps(obj)
