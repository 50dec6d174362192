"""One function per parser of untrusted bytes: feed it one input, check the contract.

Each `run_<parser>(data)` returns normally when birbctl behaved (a result, or a
BirbError with a message) and raises anything else it met, so the same functions drive
the hypothesis tests, the mutation loops and the corpus replay. The corpus directory of
a parser is named after the function (corpus/etf/ feeds run_etf).
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from fuzzkit import check_error, clean, unpack_frames
from fuzzseeds import TOKEN

from birbctl.capture.emit import write_etf, write_jsonl
from birbctl.capture.sources import iter_messages
from birbctl.client.control import MAX_REQUEST, ControlServer, manager_handler
from birbctl.client.snapshot import PingSnapshot, ShardSnapshot
from birbctl.codec.etf import decode_etf_c, decode_etf_py, encode_etf
from birbctl.codec.json import decode_json
from birbctl.codec.message import decode_message
from birbctl.codec.packets import PacketReader
from birbctl.emulator.config import EmulatorConfig
from birbctl.emulator.faults import parse_fault_flag
from birbctl.emulator.gateway import (
    CloseConnection,
    ConnectParams,
    DropConnection,
    GatewayConnection,
    GatewayContext,
    SendFrame,
)
from birbctl.emulator.scenario import load_scenario
from birbctl.errors import BirbError, ConfigError, DecodeError, InflateError
from birbctl.protocol.opcodes import CloseCode, server_may_send
from birbctl.protocol.wire import Compression, Encoding
from birbctl.transport.inflate import ZlibStreamInflater, ZstdStreamInflater

_TMP = Path(tempfile.mkdtemp(prefix="birbfuzz"))


def _file(data: bytes, name: str = "input") -> str:
    path = _TMP / name
    path.write_bytes(data)
    return str(path)


def _expect(error: BirbError | object, *kinds: type[BirbError]) -> None:
    if isinstance(error, BirbError):
        assert isinstance(error, kinds), f"{type(error).__name__} where {kinds} was due: {error}"


# --- codecs -------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to itself (ETF floats may be NaN); iterative, as terms
    nest 512 deep."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if not (x == y or (math.isnan(x) and math.isnan(y))):
                return False
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif x != y:
            return False
    return True


def run_etf(data: bytes, **limits: Any) -> Any:
    """Both decoders, both snowflake modes: clean, and the same outcome (value or error
    message and offset), as etf.py promises."""
    for bigint_as_str in (False, True):
        py = clean(partial(decode_etf_py, data, bigint_as_str=bigint_as_str, **limits), "etf py")
        _expect(py, DecodeError)
        if decode_etf_c is None:
            continue
        decode_c = decode_etf_c
        c = clean(partial(decode_c, data, bigint_as_str=bigint_as_str, **limits), "etf c")
        _expect(c, DecodeError)
        if isinstance(py, DecodeError) or isinstance(c, DecodeError):
            assert isinstance(py, DecodeError) and isinstance(c, DecodeError), (py, c)
            assert (py.message, py.offset) == (c.message, c.offset), (str(py), str(c))
        else:
            assert _same(py, c), "C and Python decoders disagree"
    return py


def run_json(data: bytes) -> None:
    _expect(clean(lambda: decode_json(data), "json"), DecodeError)
    _expect(clean(lambda: decode_message(data), "message"), DecodeError)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return
    _expect(clean(lambda: decode_json(text), "json str"), DecodeError)


# --- transport ----------------------------------------------------------------------------


def _inflate(make: Callable[[int], Any], frames: list[bytes], max_size: int) -> None:
    inflater = make(max_size)
    for frame in frames:
        out = clean(lambda f=frame: inflater.feed(f), "inflate")  # type: ignore[misc]
        if isinstance(out, BirbError):
            _expect(out, InflateError)
            return  # the context is broken: the connection would end here
        assert out is None or isinstance(out, bytes)
        assert out is None or len(out) <= max_size, f"{len(out)} bytes past the cap"


def run_zlib(data: bytes) -> None:
    """A length-prefixed frame sequence (fuzzkit.pack_frames) through one zlib context."""
    frames = unpack_frames(data)
    _inflate(ZlibStreamInflater, frames, 128 * 1024 * 1024)
    _inflate(ZlibStreamInflater, frames, 1024)


def run_zstd(data: bytes) -> None:
    frames = unpack_frames(data)
    _inflate(ZstdStreamInflater, frames, 128 * 1024 * 1024)
    _inflate(ZstdStreamInflater, frames, 1024)


# --- files: what `birbctl decode FILE` does, output included ------------------------------


def _decode_file(path: str, fmt: str | None) -> None:
    def strict() -> None:
        write_jsonl(iter_messages(path, fmt), io.BytesIO())

    def keep_going() -> None:
        errors: list[DecodeError] = []
        write_jsonl(iter_messages(path, fmt, on_error=errors.append), io.BytesIO())
        for error in errors:
            check_error(error)

    def to_etf() -> None:
        write_etf(iter_messages(path, fmt, on_error=lambda e: None), io.BytesIO())

    for how in (strict, keep_going, to_etf):
        _expect(clean(how, f"decode --from {fmt or 'sniffed'}"), DecodeError)


def run_decode(data: bytes) -> None:
    """`birbctl decode FILE`: sniffed, so this covers every format the sniffer picks."""
    _decode_file(_file(data), None)


def run_capture(data: bytes) -> None:
    _decode_file(_file(data, "input.capture"), "capture")


def run_har(data: bytes) -> None:
    _decode_file(_file(data, "input.har"), "har")


def run_jsonl(data: bytes) -> None:
    _decode_file(_file(data, "input.jsonl"), "jsonl")


# --- control socket -----------------------------------------------------------------------


class StubManager:
    """What manager_handler drives, with ShardManager's one rule on shard numbers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def _select(self, shard: int | None) -> None:
        if shard is not None and shard != 0:
            raise ConfigError(f"no shard {shard} here (shards: [0])")

    def snapshots(self) -> list[ShardSnapshot]:
        return [
            ShardSnapshot(
                shard=(0, 1), status="ready", session_id="abc", seq=7, ping=1.0, ping_avg=1.5,
                last_ack_age=0.5, uptime=10.0, connections=1, resumes=0, reidentifies=0,
                events=7, events_per_s=0.7, guilds_ready=1, guilds_expected=1,
                url="ws://127.0.0.1:1/?v=10&encoding=json", encoding="json", compress=None,
            )
        ]  # fmt: skip

    def ping_snapshots(self) -> list[PingSnapshot]:
        return [PingSnapshot((0, 1), 2.0, 1.5, 1.0, 1.5, 2.0, 2.0, 2, (1.0, 2.0))]

    def reconnect(self, resume: bool = True, shard: int | None = None) -> None:
        self._select(shard)
        self.calls.append(("reconnect", resume))

    def terminate(self, shard: int | None = None) -> None:
        self._select(shard)
        self.calls.append(("terminate", shard))

    def close(self, code: int = 1000, reason: str = "", shard: int | None = None) -> None:
        self._select(shard)
        self.calls.append(("close", code))


async def _control_exchange(lines: list[bytes]) -> list[bytes]:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    with tempfile.TemporaryDirectory(prefix="bctl", dir="/tmp") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o700)
        server = ControlServer(manager_handler(StubManager()), command="fuzz", directory=directory)
        answers = []
        async with server:
            for line in lines:
                reader, writer = await asyncio.open_unix_connection(
                    str(server.path), limit=16 * 1024 * 1024
                )
                writer.write(line)
                if writer.can_write_eof():
                    writer.write_eof()
                await writer.drain()
                answers.append(await reader.read())
                writer.close()
                await writer.wait_closed()
        await asyncio.sleep(0)
    assert not unhandled, f"control server: unhandled {unhandled[0].get('exception')!r}"
    return answers


def check_control_answer(line: bytes, answer: bytes) -> dict[str, Any] | None:
    if len(line.split(b"\n", 1)[0]) > MAX_REQUEST and not answer:
        return None  # an over-long request is dropped unanswered (asyncio's line limit)
    assert answer.endswith(b"\n") and answer.count(b"\n") == 1, f"bad answer {answer[:200]!r}"
    reply = orjson.loads(answer)
    assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool), reply
    if not reply["ok"]:
        error = reply.get("error")
        assert isinstance(error, str) and error.strip(), reply
        assert "Traceback" not in error and "internal error" not in error, reply
    return reply


def run_control(data: bytes) -> None:
    """One request line to a real ControlServer on a Unix socket: one JSON answer."""
    line = data if data.endswith(b"\n") else data + b"\n"
    answers = clean(lambda: asyncio.run(_control_exchange([line])), "control")
    assert isinstance(answers, list), answers
    check_control_answer(line, answers[0])


# --- emulator -----------------------------------------------------------------------------


def run_scenario(data: bytes) -> None:
    """A scenario file as `birbctl serve --scenario FILE` loads it."""
    _expect(clean(lambda: load_scenario(_file(data, "scenario.toml")), "scenario"), ConfigError)


def run_fault_flag(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")  # argv as Python hands it over
    _expect(clean(lambda: parse_fault_flag(text), "--fault"), ConfigError)


#: What the emulator may close with: the gateway's codes a server may send.
_CLOSE_CODES = frozenset(int(c) for c in CloseCode if server_may_send(c))


def _identify(encoding: str) -> bytes | str:
    payload = {"op": 2, "d": {"token": TOKEN, "intents": 513, "properties": {"os": "x"}}}
    return encode_etf(payload) if encoding == "etf" else orjson.dumps(payload).decode()


def run_gateway(data: bytes) -> None:
    """A client's messages to one emulator connection. The corpus file is frames
    (fuzzkit.pack_frames): first `ENCODING COMPRESS STATE` (STATE fresh or ready), then
    one message each, its first byte t (text) or b (binary)."""
    frames = unpack_frames(data)
    if not frames:
        return
    words = frames[0].decode("ascii", "replace").split()
    defaults = ["json", "none", "fresh"]
    encoding, compress, state = (words[:3] + defaults[len(words) :])[:3]
    messages: list[bytes | str] = []
    for frame in frames[1:]:
        if frame[:1] == b"t":
            messages.append(frame[1:].decode("utf-8", "replace"))
        else:
            messages.append(frame[1:])
    run_gateway_messages(encoding, Compression(compress), state, messages)


def run_gateway_messages(
    encoding: str, compress: Compression, state: str, messages: list[bytes | str]
) -> None:
    config = EmulatorConfig(guilds=2, seed=1, heartbeat_interval_ms=10_000, event_rate=0)
    ctx = GatewayContext(config, resume_url="ws://127.0.0.1:1")
    conn = GatewayConnection(ctx, ConnectParams(10, encoding, compress), now=0.0)
    reader = PacketReader(Encoding.ETF if encoding == "etf" else Encoding.JSON, compress)

    def drain() -> None:
        for action in conn.actions():
            if isinstance(action, SendFrame):
                frame: bytes | str = action.data.decode() if action.text else action.data
                reader.feed(frame)  # the emulator's own frames must decode
            elif isinstance(action, CloseConnection):
                assert action.code in _CLOSE_CODES, f"close code {action.code}"
                assert len(action.reason.encode()) <= 123
            else:
                assert isinstance(action, DropConnection), action

    def step(message: bytes | str, now: float) -> None:
        conn.receive(message, now)
        conn.tick(now)
        drain()

    with_clean = clean(drain, "gateway hello")
    assert with_clean is None, with_clean
    if state == "ready":
        assert clean(lambda: step(_identify(encoding), 0.5), "gateway identify") is None
    for index, message in enumerate(messages, 1):
        outcome = clean(lambda m=message, t=float(index): step(m, t), "gateway")  # type: ignore[misc]
        assert outcome is None, f"gateway raised {outcome!r}"  # its contract: no errors at all
    conn.connection_lost(None, float(len(messages) + 1))


RUNNERS: dict[str, Callable[[bytes], object]] = {
    "etf": run_etf,
    "json": run_json,
    "jsonl": run_jsonl,
    "zlib": run_zlib,
    "zstd": run_zstd,
    "capture": run_capture,
    "har": run_har,
    "decode": run_decode,
    "control": run_control,
    "scenario": run_scenario,
    "fault_flag": run_fault_flag,
    "gateway": run_gateway,
}


#: What Python's own parsers say; a user of `birbctl status` should never read these.
PYTHON_TEXTS = (
    "Expecting ",
    "line 1 column",
    "(char ",
    "codec can't",
    "Traceback",
    "invalid literal",
    "maximum recursion",
)


def run_control_text(data: bytes) -> None:
    """run_control, and the error must be birbctl's words, not a Python parser's."""
    line = data if data.endswith(b"\n") else data + b"\n"
    answers = asyncio.run(_control_exchange([line]))
    reply = check_control_answer(line, answers[0])
    error = (reply or {}).get("error") or ""
    leaked = [text for text in PYTHON_TEXTS if text in error]
    assert not leaked, f"control answer shows Python's error text: {error!r}"


RUNNERS["control_text"] = run_control_text
