"""Builders for capture and HAR files used by the capture and CLI tests."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
from conftest import zlib_stream, zstd_stream

from birbctl.capture.writer import CaptureWriter
from birbctl.codec.etf import encode_etf

TOKEN = "MTE0MjczMzY0NjYwMDYxNDAwNA.GaBcDe.s3cr3t-t0k3n-value_xyz"

EVENTS: list[dict[str, Any]] = [
    {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None},
    {
        "op": 0,
        "t": "READY",
        "s": 1,
        "d": {"session_id": "abc", "user": {"id": "1142733646600614004", "username": "b"}},
    },
    {
        "op": 0,
        "t": "MESSAGE_CREATE",
        "s": 2,
        "d": {"id": "1142733646600614005", "channel_id": "1142733646600614006", "content": "hi"},
    },
    {"op": 11, "d": None, "s": None, "t": None},
    {"op": 0, "t": "MESSAGE_UPDATE", "s": 3, "d": {"id": "1142733646600614005", "content": "x"}},
    {"op": 0, "t": "GUILD_CREATE", "s": 4, "d": {"id": "1142733646600614007", "roles": []}},
]

IDENTIFY = {"op": 2, "d": {"token": TOKEN, "intents": 513, "properties": {"os": "linux"}}}
RESUME = {"op": 6, "d": {"token": TOKEN, "session_id": "abc", "seq": 2}}
HEARTBEAT = {"op": 1, "d": 2}


def server_bytes(event: dict[str, Any], encoding: str) -> bytes:
    return encode_etf(event, style="server") if encoding == "etf" else orjson.dumps(event)


def client_frame(payload: dict[str, Any], encoding: str) -> bytes | str:
    return (
        encode_etf(payload, style="client") if encoding == "etf" else orjson.dumps(payload).decode()
    )


def compressed(messages: list[bytes], compress: str | None) -> list[bytes]:
    if compress == "zlib-stream":
        return zlib_stream(messages)
    if compress == "zstd-stream":
        return zstd_stream(messages)
    return messages


def record_session(
    path: Path, encoding: str = "json", compress: str | None = "zlib-stream"
) -> Path:
    """A session: HELLO, IDENTIFY, READY..., then a second connection that RESUMEs."""
    frames = compressed([server_bytes(e, encoding) for e in EVENTS], compress)
    with CaptureWriter(
        path,
        url=f"wss://gateway.discord.gg/?v=10&encoding={encoding}",
        encoding=encoding,
        compress=compress,
    ) as writer:
        writer.opened(1, t=100.0)
        writer.frame(1, "recv", frames[0], t=100.1)
        writer.frame(1, "send", client_frame(IDENTIFY, encoding), t=100.2)
        for i, frame in enumerate(frames[1:4], 1):
            writer.frame(1, "recv", frame, t=100.2 + i)
        writer.frame(1, "send", client_frame(HEARTBEAT, encoding), t=104.0)
        writer.closed(1, 4000, "zombie", t=105.0)
        # A new connection: a new inflate context, starting from scratch.
        frames2 = compressed([server_bytes(e, encoding) for e in EVENTS[:1] + EVENTS[4:]], compress)
        writer.opened(2, t=106.0)
        writer.frame(2, "recv", frames2[0], t=106.1)
        writer.frame(2, "send", client_frame(RESUME, encoding), t=106.2)
        writer.frame(2, "recv", frames2[1], t=106.3)
        writer.frame(2, "recv", frames2[2], t=106.4)
    return path


def har_entry(url: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A websocket entry shaped as Chromium's DevTools export writes one."""
    return {
        "_initiator": {"type": "script"},
        "_priority": None,
        "_resourceType": "websocket",
        "cache": {},
        "connection": "123",
        "pageref": "page_1",
        "request": {
            "method": "GET",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Upgrade", "value": "websocket"}],
            "queryString": [],
            "cookies": [],
            "headersSize": 500,
            "bodySize": 0,
        },
        "response": {
            "status": 101,
            "statusText": "Switching Protocols",
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "cookies": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
            "_transferSize": 0,
            "_error": None,
        },
        "serverIPAddress": "162.159.135.234",
        "startedDateTime": "2026-11-27T12:00:00.000Z",
        "time": 12.5,
        "timings": {
            "blocked": 1,
            "dns": -1,
            "ssl": -1,
            "connect": -1,
            "send": 0,
            "wait": 10,
            "receive": 0,
            "_blocked_queueing": 0.5,
        },
        "_webSocketMessages": messages,
    }


def ws_message(direction: str, time: float, data: bytes | str) -> dict[str, Any]:
    if isinstance(data, bytes):
        return {
            "type": direction,
            "time": time,
            "opcode": 2,
            "data": base64.b64encode(data).decode(),
        }
    return {"type": direction, "time": time, "opcode": 1, "data": data}


def har_file(path: Path, entries: list[dict[str, Any]]) -> Path:
    doc = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [
                {
                    "startedDateTime": "2026-11-27T12:00:00.000Z",
                    "id": "page_1",
                    "title": "https://discord.com/app",
                    "pageTimings": {},
                }
            ],
            "entries": [
                {**har_entry("https://discord.com/api/v9/users/@me", []), "_resourceType": "fetch"},
                *entries,
            ],
        }
    }
    del doc["log"]["entries"][0]["_webSocketMessages"]
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def discord_har(path: Path, compress: str, encoding: str = "json") -> Path:
    """A HAR of the Discord web client: two gateway connections, binary frames."""
    url = f"wss://gateway.discord.gg/?encoding={encoding}&v=9&compress={compress}"
    entries = []
    for _ in range(2):
        frames = compressed([server_bytes(e, encoding) for e in EVENTS], compress)
        messages = [ws_message("receive", 1000.0 + i, f) for i, f in enumerate(frames)]
        messages.insert(1, ws_message("send", 1000.5, client_frame(IDENTIFY, encoding)))
        messages.append({"type": "receive", "time": 1010.0, "opcode": 8, "data": ""})
        entries.append(har_entry(url, messages))
    return har_file(path, entries)
