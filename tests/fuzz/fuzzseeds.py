"""Real inputs the mutators start from: the shared gateway vectors (read in place, never
copied), examples/, and captures and HAR files made with birbctl's own writer."""

from __future__ import annotations

import base64
import functools
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import orjson
from fuzzkit import EXAMPLES_DIR, VECTORS

from birbctl.capture.writer import CaptureWriter
from birbctl.codec.etf import encode_etf
from birbctl.transport.deflate import ZlibStreamDeflater, ZstdStreamDeflater, make_deflater
from birbctl.transport.raw import zlib_cut_points

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.tOpSeCrEtToKeNvAlUe_xyz0123456789"


def have_vectors() -> bool:
    return VECTORS.is_dir()


def _vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


@functools.cache
def zlib_sessions() -> tuple[tuple[bytes, ...], ...]:
    """Frame sequences of real zlib-stream connections (one inflate context each)."""
    out = []
    raw = (EXAMPLES_DIR / "session.zlib-stream").read_bytes()
    cuts = zlib_cut_points(raw)
    out.append(tuple(raw[a:b] for a, b in zip([0, *cuts], cuts, strict=False)))
    if have_vectors():
        out.append(tuple(_vector(f"discordbm_zlib_stream_frame{i}.bin") for i in range(3)))
        out.append((_vector("twilight_zlib_stream_hello.bin"),))
        out.append((_vector("erlpack_issue55_zlib_stream_hello.bin"),))
    deflater = ZlibStreamDeflater()
    out.append(tuple(deflater.frame(m) for m in gateway_messages()[:6]))
    return tuple(out)


@functools.cache
def zstd_sessions() -> tuple[tuple[bytes, ...], ...]:
    out = []
    if have_vectors():
        out.append((_vector("twilight_zstd_stream_hello.bin"),))
    for per_message in (False, True):
        deflater = ZstdStreamDeflater(frame_per_message=per_message)
        out.append(tuple(deflater.frame(m) for m in gateway_messages()[:6]))
    return tuple(out)


@functools.cache
def json_documents() -> tuple[bytes, ...]:
    """Real JSON gateway payloads (the vectors' .json files, or a built set without them)."""
    docs: list[bytes] = []
    if have_vectors():
        for path in sorted(VECTORS.glob("*.json")):
            docs.append(path.read_bytes())
    docs.extend(gateway_messages())
    return tuple(docs)


@functools.cache
def gateway_messages() -> tuple[bytes, ...]:
    """A few JSON messages as the gateway sends them (HELLO, READY, dispatches, ACK)."""
    payloads: list[Any] = [
        {"op": 10, "d": {"heartbeat_interval": 41250, "_trace": ["gw"]}, "s": None, "t": None},
        {"op": 11, "d": None, "s": None, "t": None},
        {
            "op": 0,
            "s": 1,
            "t": "READY",
            "d": {
                "v": 10,
                "session_id": "abc",
                "guilds": [{"id": "1100000000000000001", "unavailable": True}],
                "shard": [0, 1],
            },
        },
        {
            "op": 0,
            "s": 2,
            "t": "MESSAGE_CREATE",
            "d": {
                "id": "1200000000000000002",
                "content": "h\u00e9llo \u2603 \U0001f426",
                "embeds": [],
                "tts": False,
                "nonce": 12345678901234,
                "flags": 0,
                "x": 1.5,
            },
        },
        {"op": 1, "d": 2, "s": None, "t": None},
        {"op": 9, "d": False, "s": None, "t": None},
    ]
    return tuple(orjson.dumps(p) for p in payloads)


@functools.cache
def etf_documents() -> tuple[bytes, ...]:
    docs: list[bytes] = []
    if have_vectors():
        docs.append(_vector("cppetfer_etf_ready_v10.bin"))
        docs.append(_vector("gsmcwhirter_etf_hello_atomkeys.bin"))
    for message in gateway_messages():
        value = orjson.loads(message)
        docs.append(encode_etf(value, style="server"))
        docs.append(encode_etf(value, style="client"))
    docs.append(encode_etf([1.5, -(2**70), 2**40, (1, 2), {"k": [None, True]}, "", []]))
    return tuple(docs)


_CREATED = re.compile(rb'"created":"[^"]*"')


def _capture(encoding: str, compress: str | None, messages: list[bytes]) -> bytes:
    """A capture made by CaptureWriter: two connections, sends, a text frame, closes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.capture"
        clock = iter(float(1000 + i) for i in range(1000))
        with CaptureWriter(
            path,
            url="wss://gateway.discord.gg/?v=10",
            encoding=encoding,
            compress=compress,
            shard=(0, 1),
            clock=lambda: next(clock),
        ) as writer:
            for conn in (1, 2):
                deflater = None if compress is None else make_deflater(compress)
                writer.opened(conn)
                for index, message in enumerate(messages):
                    body = message if encoding == "json" else encode_etf(orjson.loads(message))
                    if deflater is not None:
                        writer.frame(conn, "recv", deflater.frame(body))
                    elif encoding == "json" and index % 2:
                        writer.frame(conn, "recv", body.decode())
                    else:
                        writer.frame(conn, "recv", body)
                    if index == 1:
                        ident = {"op": 2, "d": {"token": TOKEN, "intents": 513}}
                        writer.frame(conn, "send", json.dumps(ident))
                        writer.frame(conn, "send", encode_etf({"op": 1, "d": 3}))
                writer.closed(conn, 4000, "bye")
        data = path.read_bytes()
    # The header's creation time is the only thing that changes run to run.
    return _CREATED.sub(b'"created":"2026-01-01T00:00:00.000+00:00"', data, count=1)


@functools.cache
def captures() -> tuple[bytes, ...]:
    messages = list(gateway_messages()[:5])
    return (
        _capture("json", "zlib-stream", messages),
        _capture("etf", "zstd-stream", messages),
        _capture("json", None, messages),
        _capture("etf", None, messages[:3]),
    )


def _har(compress: str | None, encoding: str) -> bytes:
    url = f"wss://gateway.discord.gg/?v=10&encoding={encoding}"
    if compress:
        url += f"&compress={compress}"
    deflater = None if compress is None else make_deflater(compress)
    items: list[dict[str, Any]] = []
    for index, message in enumerate(gateway_messages()[:4]):
        body = message if encoding == "json" else encode_etf(orjson.loads(message))
        if deflater is not None:
            body = deflater.frame(body)
        if encoding == "json" and deflater is None:
            items.append(
                {"type": "receive", "time": 1.0 + index, "opcode": 1, "data": body.decode()}
            )
        else:
            items.append(
                {
                    "type": "receive",
                    "time": 1.0 + index,
                    "opcode": 2,
                    "data": base64.b64encode(body).decode(),
                }
            )
    items.insert(
        1,
        {
            "type": "send",
            "time": 1.5,
            "opcode": 1,
            "data": json.dumps({"op": 2, "d": {"token": TOKEN}}),
        },
    )
    entry = {
        "_resourceType": "websocket",
        "request": {"method": "GET", "url": url},
        "_webSocketMessages": items,
    }
    return orjson.dumps({"log": {"version": "1.2", "entries": [{"request": {}}, entry]}})


@functools.cache
def hars() -> tuple[bytes, ...]:
    return (_har("zlib-stream", "json"), _har("zstd-stream", "etf"), _har(None, "json"))


def jsonl_file() -> bytes:
    return b"\n".join(gateway_messages()) + b"\n"


@functools.cache
def decode_inputs() -> tuple[bytes, ...]:
    """Every kind of file `birbctl decode` sniffs."""
    out: list[bytes] = [*captures()[:2], *hars()[:2], jsonl_file()]
    out.append(b"".join(zlib_sessions()[0]))
    out.append(b"".join(zstd_sessions()[-1]))
    out.extend(etf_documents()[:3])
    out.extend(json_documents()[:2])
    return tuple(out)
