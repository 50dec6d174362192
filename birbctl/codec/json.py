"""JSON payloads via orjson: the gateway's default encoding."""

from __future__ import annotations

from typing import Any

import orjson

from birbctl.errors import DecodeError


def decode_json(data: bytes | bytearray | memoryview | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # orjson reports "... at line L column C (char N)"; N is the byte offset for ASCII
        # input and close enough otherwise to find the spot.
        raise DecodeError(f"invalid JSON: {exc.msg}", offset=exc.pos) from None


def encode_json(obj: Any) -> bytes:
    return orjson.dumps(obj)
