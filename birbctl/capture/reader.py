"""Reading a capture (docs/capture-format.md) as a stream: a line at a time, whatever its size.

Received frames go through one inflate context per `conn`, in file order, exactly as the
live client fed them; sent frames decode on their own. Errors name the line (as `frame`)
and the line's byte offset in the file.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from itertools import chain
from typing import Any, BinaryIO

import orjson

from birbctl.capture.fastpath import recv_frame
from birbctl.capture.header import CaptureHeader, parse_header, parse_shard
from birbctl.capture.message import ErrorHandler, Message, report
from birbctl.capture.replay import ConnectionReplay, locate
from birbctl.capture.stream import MAX_LINE, iter_line_batches
from birbctl.codec.json import json_error
from birbctl.errors import DecodeError, InflateError
from birbctl.protocol.wire import Direction

#: What reading one received frame may raise: TypeError (`data` not a string), ValueError
#: (bad base64; JSON that orjson refuses), DecodeError (InflateError too). `_failed` makes
#: each a located error line; anything else is a bug and keeps its traceback.
_FRAME_ERRORS = (TypeError, ValueError, DecodeError)
#: What follows the conn number in a received binary frame, as CaptureWriter lays it out.
_RECV_BINARY = b',"dir":"recv","kind":"binary","data":"'


def read_capture(
    fh: BinaryIO, *, on_error: ErrorHandler = None, max_line: int = MAX_LINE
) -> Iterator[Message]:
    """Every payload in a capture stream, in file order. The header is read now (its
    errors raise here), the rest as the iterator is consumed: not a generator itself, so
    that each message passes through one generator frame fewer."""
    batches = iter_line_batches(fh, max_line)
    first: list[bytes] = []
    for lines, _complete in batches:
        first = lines
        break
    if not first or not first[0].strip():
        raise DecodeError("no capture header on the first line", frame=1, offset=0)
    try:
        header = parse_header(first[0])
    except DecodeError as exc:
        raise exc.located(frame=1, offset=0) from None
    rest = first[1:]
    return _events(chain([(rest, True)], batches), header, len(first[0]) + 1, on_error)


def _events(
    batches: Iterator[tuple[list[bytes], bool]],
    header: CaptureHeader,
    offset: int,
    on_error: ErrorHandler,
) -> Iterator[Message]:
    conns: dict[int, ConnectionReplay] = {}
    shards: dict[int, tuple[int, int] | None] = {}  # conn -> shard, from its open line
    loads = orjson.loads
    recv = Direction.RECV  # a local: compared and yielded once per frame
    a2b = binascii.a2b_base64
    scan = recv_frame
    number = 1
    last_conn: Any = None  # the connection of the previous received frame, and its replay
    last = ConnectionReplay(header.encoding, header.compress, header.shard)
    last_tail = b""  # what follows `"t":<ts>` in last_conn's received binary frames
    inflate, decode = last.inflate, last.decode
    shard = last.shard
    # What the last decode was fed: named by the errors of a message that is not JSON.
    message: bytes | None = b""
    for lines, complete in batches:
        for line in lines:
            number += 1
            start = offset
            offset += len(line) + 1
            # Fastest path: a received binary frame in the exact layout CaptureWriter
            # writes, on the connection of the previous one; read without a JSON parse.
            # Anything unexpected falls through to the full parse below.
            if last_conn is not None:
                scanned = scan(line, last_tail)
                if scanned is not None:
                    ts, frame = scanned
                    try:
                        message = inflate(frame)
                        if message is None:
                            last.pending_wire += len(frame)
                            continue
                        payload = decode(message)
                    except _FRAME_ERRORS as exc:
                        _failed(exc, last, number, start, last_conn, on_error, message or b"")
                        if last.broken:
                            last_conn = None
                        continue
                    wire = len(frame)
                    if last.pending_wire:
                        wire += last.pending_wire
                        last.pending_wire = 0
                    yield Message(
                        payload, number, start, wire, len(message), ts, last_conn, recv,
                        "binary", shard,
                    )  # fmt: skip
                    continue
            try:
                event = loads(line)
                kind = event["kind"]
                conn = event["conn"]
                direction = event["dir"]
                data = event["data"]
                ts = event["t"]
            except orjson.JSONDecodeError as exc:
                if line.strip():
                    if complete:  # invalid UTF-8: at its first bad byte
                        error = json_error(exc, line)
                        error.frame, error.offset = number, start + (error.offset or 0)
                    else:
                        what = "truncated line (no newline at the end)"
                        error = DecodeError(f"{what}: {exc.msg}", frame=number, offset=start)
                    report(on_error, error)
                continue
            except (KeyError, TypeError) as exc:
                report(on_error, _bad_event(exc, line, number, start))
                continue
            # The fast path again, after a JSON parse: another received binary frame on the
            # same connection. Deliberately the same lines as the fastest path above (and
            # `_other`'s recv branch): a function call per frame costs more than the decode
            # of a small one, and this loop is `decode`'s throughput. Change them together.
            if conn == last_conn and kind == "binary" and direction == recv and type(ts) is float:
                try:
                    frame = a2b(data, strict_mode=True)
                    message = last.inflate(frame)
                    if message is None:
                        last.pending_wire += len(frame)
                        continue
                    payload = last.decode(message)
                except _FRAME_ERRORS as exc:
                    _failed(exc, last, number, start, conn, on_error, message or b"")
                    if last.broken:
                        last_conn = None
                    continue
                wire = len(frame)
                if last.pending_wire:
                    wire += last.pending_wire
                    last.pending_wire = 0
                yield Message(
                    payload, number, start, wire, len(message), ts, conn, recv, kind, shard
                )
                continue
            out = _other(event, conns, shards, header, number, start, on_error)
            replay = conns.get(conn) if type(conn) is int else None
            if replay is not None and not replay.broken and direction == recv:
                last_conn, last = conn, replay
                inflate, decode, shard = replay.inflate, replay.decode, replay.shard
                last_tail = b',"conn":%d%s' % (conn, _RECV_BINARY)
            elif last_conn is not None and conns.get(last_conn) is not last:
                last_conn = None  # closed, reopened or broken
            if out is not None:
                yield out


def _failed(
    exc: TypeError | ValueError | DecodeError,
    replay: ConnectionReplay,
    number: int,
    start: int,
    conn: int,
    on_error: ErrorHandler,
    message: bytes = b"",
) -> None:
    """Turn whatever a received frame raised into a located DecodeError and report it
    (`message`: the inflated bytes, when they were what failed to decode)."""
    if isinstance(exc, TypeError):
        error: DecodeError = DecodeError("capture event data must be a string")
    elif isinstance(exc, orjson.JSONDecodeError):  # a ValueError: before the base64 case
        error = json_error(exc, message)
    elif isinstance(exc, binascii.Error | ValueError):
        error = DecodeError("corrupt base64 in a binary frame")
        replay.broken = replay.compressed  # the inflate context misses these bytes now
    elif isinstance(exc, InflateError):
        replay.broken = True
        error = exc
    else:
        error = exc
    report(on_error, locate(error, frame=number, offset=start, conn=conn))


def _other(
    event: dict[str, Any],
    conns: dict[int, ConnectionReplay],
    shards: dict[int, tuple[int, int] | None],
    header: CaptureHeader,
    number: int,
    start: int,
    on_error: ErrorHandler,
) -> Message | None:
    """Every event but a received binary frame: open, close, sends, text frames, and
    anything malformed."""
    kind, conn, direction, data, ts = (
        event["kind"],
        event["conn"],
        event["dir"],
        event["data"],
        event["t"],
    )
    if type(conn) is not int or type(ts) not in (float, int) or type(data) is not str:
        report(on_error, _bad_event(None, event, number, start))
        return None
    if kind == "open" or kind == "close":
        conns.pop(conn, None)  # a new connection starts a new inflate context
        if kind == "open":
            try:  # which shard the connection belongs to (absent before it was recorded)
                shards[conn] = parse_shard(event["shard"]) if "shard" in event else header.shard
            except DecodeError as exc:
                report(on_error, DecodeError(exc.message, frame=number, offset=start))
        return None
    if kind not in ("text", "binary"):
        report(on_error, DecodeError(f"unknown event kind {kind!r}", frame=number, offset=start))
        return None
    if direction == Direction.RECV:
        replay = conns.get(conn)
        if replay is None:
            replay = conns[conn] = ConnectionReplay(
                header.encoding, header.compress, shards.get(conn, header.shard)
            )
        elif replay.broken:
            return None
        try:
            frame: bytes | str = (
                data if kind == "text" else binascii.a2b_base64(data, strict_mode=True)
            )
            out = replay.recv(frame)
        except _FRAME_ERRORS as exc:
            _failed(exc, replay, number, start, conn, on_error)
            return None
        if out is None:
            return None
        payload, wire, size = out
        return Message(
            payload, number, start, wire, size, float(ts), conn, Direction.RECV, kind, replay.shard
        )
    if direction == Direction.SEND:
        if "redacted" in event:
            return None  # recorded as a marker: the writer could not vouch it held no token
        try:
            frame = data if kind == "text" else binascii.a2b_base64(data, strict_mode=True)
            payload, size = ConnectionReplay.send(frame)
        except (binascii.Error, ValueError):
            error = DecodeError("corrupt base64 in a binary frame", frame=number, offset=start)
            report(on_error, error)
            return None
        except DecodeError as exc:
            report(on_error, locate(exc, frame=number, offset=start, conn=conn))
            return None
        shard = shards.get(conn, header.shard)
        return Message(
            payload, number, start, size, size, float(ts), conn, Direction.SEND, kind, shard
        )
    error = DecodeError(f"dir {direction!r} is not send or recv", frame=number, offset=start)
    report(on_error, error)
    return None


def _bad_event(exc: Exception | None, event: Any, number: int, start: int) -> DecodeError:
    if isinstance(event, bytes):
        try:
            event = orjson.loads(event)
        except orjson.JSONDecodeError:
            event = None
    if not isinstance(event, dict):
        what = "a capture event must be a JSON object"
    elif isinstance(exc, KeyError):
        what = f"capture event lacks {exc.args[0]!r}"
    else:
        what = "capture event has a field of the wrong type (t number, conn int, data string)"
    return DecodeError(what, frame=number, offset=start)
