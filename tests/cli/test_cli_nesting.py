"""Deeply nested messages: every depth, through every input and output, ends in the
decoded output or one `nested deeper than 254 levels` error (exit 3), never a traceback.

Depths sweep each limit there was or is: orjson's dumps (254), ETF's old decoder limit
(512), orjson's loads (1024), and far past them. Most cases run the CLI in-process (the
same `main()` the console script runs, with stdout and stderr captured); a few run it as
a real process to show the shape users see.
"""

from __future__ import annotations

import io
import sys
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import birbctl, one_line_error

from birbctl.capture.writer import CaptureWriter
from birbctl.codec.depth import MAX_DEPTH, depth_exceeds
from birbctl.codec.etf import encode_etf

DEPTHS = [1, 2, 253, 254, 255, 256, 511, 512, 513, 1023, 1024, 1025, 100_000]
ERROR = f"nested deeper than {MAX_DEPTH} levels"


def nested_json(depth: int) -> bytes:
    """`depth` levels, alternating lists and objects, as JSON text (any depth: no recursion)."""
    opens = [b"[" if i % 2 else b'{"k":' for i in range(depth - 1)]
    closes = [b"]" if i % 2 else b"}" for i in reversed(range(depth - 1))]
    inner = b"[]" if (depth - 1) % 2 else b"{}"
    return b"".join(opens) + inner + b"".join(closes)


def nested_etf(depth: int) -> bytes:
    """The same as ETF: depth-1 one-element MAP/LIST headers around an empty one."""
    head = bytearray(b"\x83")
    lists = 0
    for i in range(depth - 1):
        if i % 2:
            head += b"l\x00\x00\x00\x01"
            lists += 1
        else:
            head += b"t\x00\x00\x00\x01m\x00\x00\x00\x01k"
    inner = b"j" if (depth - 1) % 2 else b"t\x00\x00\x00\x00"
    return bytes(head + inner + b"j" * lists)  # the innermost, then each list's tail


def payload(depth: int) -> bytes:
    """A gateway dispatch whose whole payload nests `depth` levels (d: depth - 1)."""
    inner = nested_json(depth - 1) if depth > 1 else b"null"
    return b'{"op":0,"t":"DEEP","s":1,"d":' + inner + b"}"


def run(*args: str) -> tuple[int, bytes, str]:
    """`birbctl ARGS` in this process: (exit code, stdout, stderr). Any exception that
    is not turned into an exit code escapes, and fails the test, as a traceback would."""
    from birbctl.cli.app import main

    out, err = io.BytesIO(), io.StringIO()
    stdout = io.TextIOWrapper(out, write_through=True)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, err
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout, sys.stderr = saved
        stdout.detach()
    return code, out.getvalue(), err.getvalue()


def assert_outcome(depth: int, code: int, err: str, where: str) -> None:
    """Within the limit: exit 0, nothing on stderr. Past it: exactly the one line."""
    if depth <= MAX_DEPTH:
        assert code == 0 and err == "", (depth, err)
    else:
        assert code == 3, (depth, code, err)
        assert err == f"birbctl: error: {where}: {ERROR}\n", (depth, err)


def write_capture(path: Path, messages: list[bytes], encoding: str = "json") -> None:
    compressor = zlib.compressobj()
    with CaptureWriter(path, url=None, encoding=encoding, compress="zlib-stream") as writer:
        writer.opened(1, shard=(0, 1), t=1.0)
        for i, message in enumerate(messages):
            frame = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
            writer.frame(1, "recv", frame, t=2.0 + i)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("to", ["jsonl", "json", "pretty", "etf"])
def test_raw_json_every_output(tmp_path: Path, depth: int, to: str) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(nested_json(depth))
    code, out, err = run("decode", "--to", to, "--force", str(path))
    assert_outcome(depth, code, err, f"{path}:frame 1:byte 0")
    if depth <= MAX_DEPTH and to == "jsonl":
        assert out == nested_json(depth) + b"\n"


@pytest.mark.parametrize("depth", DEPTHS)
def test_json_lines_second_line(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "d.jsonl"
    first = b'{"op":11}\n'
    path.write_bytes(first + nested_json(depth) + b"\n")
    code, out, err = run("decode", "--from", "jsonl", str(path))
    assert_outcome(depth, code, err, f"{path}:frame 2:byte {len(first)}")
    assert out.startswith(b'{"op":11}\n')


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("to", ["jsonl", "etf"])
def test_raw_etf(tmp_path: Path, depth: int, to: str) -> None:
    path = tmp_path / "d.etf"
    path.write_bytes(nested_etf(depth))
    code, out, err = run("decode", "--to", to, str(path))
    assert_outcome(depth, code, err, f"{path}:frame 1:byte 0")
    if depth <= MAX_DEPTH and to == "etf":
        assert out == nested_etf(depth)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("encoding", ["json", "etf"])
@pytest.mark.parametrize("to", ["jsonl", "json", "pretty", "etf"])
def test_capture_every_output(tmp_path: Path, depth: int, encoding: str, to: str) -> None:
    """The deep message is line 3 of the capture (header, open, then the frame)."""
    message = payload(depth)
    if encoding == "etf":
        message = encode_etf(orjson.loads(message)) if depth <= MAX_DEPTH else _etf_dispatch(depth)
    path = tmp_path / "d.capture"
    write_capture(path, [message], encoding)
    offset = len(path.read_bytes().split(b"\n", 2)[0]) + 1
    offset += len(path.read_bytes().split(b"\n", 2)[1]) + 1
    code, _out, err = run("decode", "--to", to, "--force", str(path))
    assert_outcome(depth, code, err, f"{path}:frame 3:byte {offset}")


def _etf_dispatch(depth: int) -> bytes:
    """An ETF dispatch nesting `depth` levels in all, past what the encoder writes."""
    inner = nested_etf(depth - 1)[1:]
    return (
        b"\x83t\x00\x00\x00\x04"
        + b"m\x00\x00\x00\x02opa\x00"
        + b"m\x00\x00\x00\x01tm\x00\x00\x00\x04DEEP"
        + b"m\x00\x00\x00\x01sa\x01"
        + b"m\x00\x00\x00\x01d"
        + inner
    )


def test_etf_dispatch_builder_matches_the_encoder() -> None:
    value = orjson.loads(payload(40))
    assert _etf_dispatch(40) == encode_etf(value)


@pytest.mark.parametrize("depth", [254, 255, 1025])
def test_har(tmp_path: Path, depth: int) -> None:
    message = payload(depth).decode()
    har = {
        "log": {
            "entries": [
                {
                    "_resourceType": "websocket",
                    "request": {"url": "wss://gateway.discord.gg/?v=10&encoding=json"},
                    "_webSocketMessages": [
                        {"type": "receive", "time": 1.0, "opcode": 1, "data": '{"op":11}'},
                        {"type": "receive", "time": 2.0, "opcode": 1, "data": message},
                    ],
                }
            ]
        }
    }
    path = tmp_path / "d.har"
    path.write_bytes(orjson.dumps(har))
    code, _out, err = run("decode", str(path))
    if depth <= MAX_DEPTH:
        assert code == 0 and err == "", err
    else:
        assert code == 3
        assert err.startswith(f"birbctl: error: {path}:frame 2: {ERROR}"), err
        assert err.count("\n") == 1


@pytest.mark.parametrize("to", ["jsonl", "json", "pretty", "etf"])
def test_keep_going_skips_and_counts_deep_messages(tmp_path: Path, to: str) -> None:
    path = tmp_path / "d.capture"
    good = b'{"op":0,"t":"OK","s":2,"d":{"a":1}}'
    write_capture(path, [payload(255), good, payload(100_000), payload(300)])
    code, out, err = run("decode", "--keep-going", "--to", to, "--force", str(path))
    assert code == 3
    assert err.startswith(f"birbctl: error: skipped 3 undecodable frames (first: {path}:frame 3:")
    assert ERROR in err and err.count("\n") == 1
    if to == "jsonl":
        assert [orjson.loads(line)["t"] for line in out.splitlines()] == ["OK"]


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("to", ["json", "etf"])
def test_encode(tmp_path: Path, depth: int, to: str) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(nested_json(depth))
    code, _out, err = run("encode", "--to", to, "-o", str(tmp_path / "out"), str(path))
    assert_outcome(depth, code, err, f"{path}:frame 1:byte 0")
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_bytes(b'{"a":1}\n' + nested_json(depth) + b"\n")
    code, _out, err = run("encode", "--to", to, "-o", str(tmp_path / "out"), str(jsonl))
    assert_outcome(depth, code, err, f"{jsonl}:frame 2:byte 8")


def test_a_bare_list_254_deep_in_a_capture_still_prints(tmp_path: Path) -> None:
    """decode's JSON Lines wraps a capture's non-object payload in one more object; a
    payload within the limit still prints, though the line is 255 deep."""
    path = tmp_path / "d.capture"
    write_capture(path, [b"[" * 254 + b"]" * 254])
    code, out, err = run("decode", str(path))
    assert code == 0, err
    line = out.decode()
    assert line.endswith('"d":' + "[" * 254 + "]" * 254 + "}\n")


@pytest.mark.parametrize("depth", [254, 255, 100_000])
def test_real_process_shape(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b"[" * depth + b"]" * depth)
    result = birbctl("decode", str(path))
    if depth <= MAX_DEPTH:
        assert result.returncode == 0 and result.stderr == b""
    else:
        err = one_line_error(result, 3)
        assert err == f"birbctl: error: {path}:frame 1:byte 0: {ERROR}\n"


def test_depth_exceeds_counts_every_container() -> None:
    assert not depth_exceeds([], 1) and depth_exceeds([[]], 1)
    assert not depth_exceeds({"a": [1, {"b": {}}]}, 4) and depth_exceeds({"a": [{"b": {}}]}, 3)
    assert not depth_exceeds("x" * 10, 0)
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert depth_exceeds(deep)
