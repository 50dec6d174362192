"""HAR files as Chromium's DevTools export them ("Save all as HAR with content").

Each websocket entry (`_resourceType: "websocket"`) is one connection with its own
inflate context; its `_webSocketMessages` are `{type: "send"|"receive", time, opcode:
1 (text) | 2 (binary, data base64), data}`. The entry's request URL carries `encoding`
and `compress`, as the gateway URL does. A HAR is one JSON document, so it is read
whole, under a size cap.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from birbctl.capture.message import ErrorHandler, Message, report
from birbctl.capture.replay import ConnectionReplay, locate
from birbctl.codec.json import json_error
from birbctl.errors import DecodeError, InflateError
from birbctl.protocol.wire import Compression, Direction, Encoding

#: Largest HAR read: it is parsed whole, and DevTools exports of long sessions are big.
MAX_HAR = 512 * 1024 * 1024

_DIRECTIONS = {"send": Direction.SEND, "receive": Direction.RECV}
_KINDS = {1: "text", 2: "binary"}


def read_har(data: bytes, *, on_error: ErrorHandler = None) -> Iterator[Message]:
    """Every gateway payload in the websocket entries, entry by entry, in message order.

    Messages are numbered (as `frame`) across the whole file, counting every websocket
    message; HAR has no byte offsets worth giving once parsed, so errors name the entry.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        error = json_error(exc, data)
        raise DecodeError(f"not a HAR file: {error.message}", offset=error.offset) from None
    log = doc.get("log") if isinstance(doc, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise DecodeError('not a HAR file: no "log": {"entries": [...]}')
    number = 0
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not _is_websocket(entry):
            continue
        messages = entry.get("_webSocketMessages") or []
        if not isinstance(messages, list):
            report(on_error, DecodeError(f"entry {index}: _webSocketMessages is not a list"))
            continue
        try:
            encoding, compress = _query(entry)
        except DecodeError as exc:
            number += len(messages)
            report(on_error, exc)
            continue
        replay = ConnectionReplay(encoding, compress)
        for position, item in enumerate(messages, 1):
            number += 1
            if replay.broken:
                continue
            where = f"entry {index}, message {position}"
            try:
                message = _decode(item, replay, number, index)
            except InflateError as exc:
                replay.broken = True
                report(on_error, _at(exc, number, index, where))
                continue
            except DecodeError as exc:
                report(on_error, _at(exc, number, index, where))
                continue
            if message is not None:
                yield message


def _is_websocket(entry: dict[str, Any]) -> bool:
    if entry.get("_resourceType") == "websocket":
        return True
    request = entry.get("request")
    url = request.get("url") if isinstance(request, dict) else None
    return isinstance(url, str) and url.startswith(("ws://", "wss://"))


def _query(entry: dict[str, Any]) -> tuple[Encoding, Compression]:
    request = entry.get("request")
    url = request.get("url") if isinstance(request, dict) else None
    try:
        query = parse_qs(urlsplit(url).query) if isinstance(url, str) else {}
    except ValueError:  # urlsplit refuses some hosts, e.g. "wss://[" (a bad IPv6 literal)
        raise DecodeError(f"websocket URL {url!r} is not a valid URL") from None
    encoding = query.get("encoding", [Encoding.JSON.value])[-1]
    compress = query.get("compress", [None])[-1]
    try:
        known_encoding = Encoding(encoding)
    except ValueError:
        words = " or ".join(Encoding)
        raise DecodeError(f"websocket URL {url}: encoding {encoding!r} is not {words}") from None
    try:
        known_compress = Compression.from_query(compress)
    except ValueError:
        raise DecodeError(f"websocket URL {url}: compress {compress!r} is not supported") from None
    return known_encoding, known_compress


def _decode(item: Any, replay: ConnectionReplay, number: int, conn: int) -> Message | None:
    if not isinstance(item, dict):
        raise DecodeError("a websocket message must be a JSON object")
    direction = _DIRECTIONS.get(item.get("type"))  # type: ignore[arg-type]
    kind = _KINDS.get(item.get("opcode"))  # type: ignore[arg-type]
    if direction is None or kind is None:
        return None  # DevTools also lists error frames and control frames
    data, ts = item.get("data"), item.get("time")
    if not isinstance(data, str):
        raise DecodeError("websocket message has no data string")
    frame: bytes | str = data
    if kind == "binary":
        try:
            frame = binascii.a2b_base64(data, strict_mode=True)
        except (binascii.Error, ValueError):
            if direction == "recv" and replay.compressed:
                replay.broken = True  # the inflate context misses these bytes now
            raise DecodeError("corrupt base64 in a binary message") from None
    ts = float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None
    if direction == "send":
        payload, size = replay.send(frame)
        return Message(payload, number, None, size, size, ts, conn, direction, kind)
    out = replay.recv(frame)
    if out is None:
        return None
    payload, wire, size = out
    return Message(payload, number, None, wire, size, ts, conn, direction, kind)


def _at(exc: DecodeError, number: int, conn: int, where: str) -> DecodeError:
    located = locate(exc, frame=number, offset=None, conn=conn)
    located.message = f"{located.message} [{where}]"
    located.args = (located.message,)
    return located
