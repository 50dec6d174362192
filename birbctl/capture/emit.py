"""Decoded messages as bytes for stdout: JSON Lines, one JSON array, or ETF terms.

The JSON Lines shape is the one `tail --format jsonl` prints live, so a recorded session
decodes to what was seen: `{ts, dir, op, t, s, d}` when the source knows time and
direction (captures, HAR), the payload itself (`{op, d, s, t}`) for raw files. Either
way `jq .t` and `jq .d` work.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

import orjson

from birbctl.capture.message import Message
from birbctl.errors import DecodeError

_OPTION = orjson.OPT_NON_STR_KEYS


def record(message: Message) -> Any:
    """The JSON object printed for one message."""
    payload = message.payload
    if message.conn is None:  # a raw file: no time or direction to add
        return payload
    if type(payload) is dict:
        get = payload.get
        return {
            "ts": message.ts,
            "dir": message.direction,
            "op": get("op"),
            "t": get("t"),
            "s": get("s"),
            "d": get("d"),
        }
    return {
        "ts": message.ts,
        "dir": message.direction,
        "op": None,
        "t": None,
        "s": None,
        "d": payload,
    }


def write_jsonl(messages: Iterable[Message], out: BinaryIO, *, flush: bool = False) -> None:
    dumps, option = orjson.dumps, _OPTION | orjson.OPT_APPEND_NEWLINE
    write = out.write
    for message in messages:
        write(dumps(record(message), option=option))
        if flush:
            out.flush()


def write_json(messages: Iterable[Message], out: BinaryIO, *, flush: bool = False) -> None:
    """One JSON array, one element a line, streamed: valid JSON however long the input."""
    dumps = orjson.dumps
    separator = b"[\n"
    for message in messages:
        out.write(separator + dumps(record(message), option=_OPTION))
        separator = b",\n"
        if flush:
            out.flush()
    out.write(b"[]\n" if separator == b"[\n" else b"\n]\n")


def write_etf(messages: Iterable[Message], out: BinaryIO, *, flush: bool = False) -> None:
    """Each payload as a client-style ETF term (version byte 131 each), back to back."""
    from birbctl.codec.etf import encode_etf

    for message in messages:
        try:
            out.write(encode_etf(message.payload, style="client"))
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"cannot encode as ETF: {exc}", frame=message.frame) from None
        if flush:
            out.flush()
