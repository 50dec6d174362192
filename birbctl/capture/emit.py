"""Decoded messages as bytes for stdout: JSON Lines, one JSON array, or ETF terms.

The JSON Lines shape is the one `tail --format jsonl` prints live, so a recorded session
decodes to what was seen: `{ts, dir, shard, op, t, s, d}` when the source knows time and
direction (captures, HAR; `shard` is [id, count], or null when unknown), the payload
itself (`{op, d, s, t}`) for raw files. Either way `jq .t` and `jq .d` work.

A message nested deeper than MAX_DEPTH is found here, for free: orjson refuses to write
it (codec/depth.py), and only then is the message walked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

import orjson

from birbctl.capture.message import ErrorHandler, Message, report
from birbctl.codec.depth import NestingError, depth_exceeds
from birbctl.errors import DecodeError

_OPTION = orjson.OPT_NON_STR_KEYS
_LINE = _OPTION | orjson.OPT_APPEND_NEWLINE


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
            "shard": message.shard,
            "op": get("op"),
            "t": get("t"),
            "s": get("s"),
            "d": get("d"),
        }
    return {
        "ts": message.ts,
        "dir": message.direction,
        "shard": message.shard,
        "op": None,
        "t": None,
        "s": None,
        "d": payload,
    }


def dump_line(message: Message) -> bytes:
    """`record(message)` as one JSON line; NestingError past MAX_DEPTH."""
    line = record(message)
    try:
        return orjson.dumps(line, option=_LINE)
    except orjson.JSONEncodeError as exc:
        return _dump_deep(message, line, exc, newline=True)


def _dump_deep(
    message: Message, line: Any, error: orjson.JSONEncodeError, *, newline: bool
) -> bytes:
    """The slow path, for what orjson would not write: a message past MAX_DEPTH is a
    NestingError at its frame; one within it that the record's own level pushed past
    orjson's limit (a bare list payload 254 deep) is written with `d` spliced in."""
    payload = message.payload
    if depth_exceeds(payload):
        raise NestingError(frame=message.frame, offset=message.offset)
    if type(line) is not dict or line.get("d") is not payload:
        raise error  # not a matter of depth
    head = orjson.dumps({**line, "d": None}, option=_OPTION)
    assert head.endswith(b"null}")
    body = head[:-5] + orjson.dumps(payload, option=_OPTION) + b"}"
    return body + b"\n" if newline else body


def _dump_deep_or_report(
    message: Message,
    line: Any,
    error: orjson.JSONEncodeError,
    *,
    newline: bool,
    on_error: ErrorHandler,
) -> bytes | None:
    """`_dump_deep`, with a message past MAX_DEPTH reported (None: skip it)."""
    try:
        return _dump_deep(message, line, error, newline=newline)
    except NestingError as exc:
        report(on_error, exc)
        return None


def write_jsonl(
    messages: Iterable[Message],
    out: BinaryIO,
    *,
    flush: bool = False,
    on_error: ErrorHandler = None,
) -> None:
    # write_json repeats this loop on purpose: it is decode's hot path, and a shared
    # generator or callback would cost a frame per message for one separator's sake.
    dumps, option = orjson.dumps, _LINE
    write = out.write
    for message in messages:
        line = record(message)
        try:
            data = dumps(line, option=option)
        except orjson.JSONEncodeError as error:
            deep = _dump_deep_or_report(message, line, error, newline=True, on_error=on_error)
            if deep is None:
                continue
            data = deep
        write(data)
        if flush:
            out.flush()


def write_json(
    messages: Iterable[Message],
    out: BinaryIO,
    *,
    flush: bool = False,
    on_error: ErrorHandler = None,
) -> None:
    """One JSON array, one element a line, streamed: valid JSON however long the input."""
    dumps = orjson.dumps
    separator = b"[\n"
    for message in messages:
        line = record(message)
        try:
            data = dumps(line, option=_OPTION)
        except orjson.JSONEncodeError as error:
            deep = _dump_deep_or_report(message, line, error, newline=False, on_error=on_error)
            if deep is None:
                continue
            data = deep
        out.write(separator + data)
        separator = b",\n"
        if flush:
            out.flush()
    out.write(b"[]\n" if separator == b"[\n" else b"\n]\n")


def write_etf(
    messages: Iterable[Message],
    out: BinaryIO,
    *,
    flush: bool = False,
    on_error: ErrorHandler = None,
) -> None:
    """Each payload as a client-style ETF term (version byte 131 each), back to back."""
    from birbctl.codec.etf import encode_etf

    for message in messages:
        try:
            data = encode_etf(message.payload)
        except (TypeError, ValueError) as exc:
            if depth_exceeds(message.payload):
                report(on_error, NestingError(frame=message.frame, offset=message.offset))
                continue
            raise DecodeError(f"cannot encode as ETF: {exc}", frame=message.frame) from None
        out.write(data)
        if flush:
            out.flush()
