"""`birbctl decode` on captures and HAR files, as a user runs it: real processes."""

from __future__ import annotations

import base64
import json
import subprocess
import zlib
from pathlib import Path

import orjson
import pytest
from captures import TOKEN, discord_har, record_session
from conftest import assert_quiet_on_closed_pipe, birbctl, one_line_error

from birbctl.capture.writer import CaptureWriter
from birbctl.codec.etf import encode_etf


def jsonl(result: subprocess.CompletedProcess[bytes]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_capture_jsonl_shape_and_identical_json_for_both_encodings(tmp_path: Path) -> None:
    as_json = jsonl(birbctl("decode", str(record_session(tmp_path / "j.cap", "json"))))
    as_etf = jsonl(birbctl("decode", str(record_session(tmp_path / "e.cap", "etf"))))
    assert as_json == as_etf
    assert list(as_json[0]) == ["ts", "dir", "shard", "op", "t", "s", "d"]
    assert as_json[0]["dir"] == "recv" and as_json[0]["op"] == 10 and as_json[0]["ts"] == 100.1
    ready = next(r for r in as_etf if r["t"] == "READY")
    assert ready["d"]["user"]["id"] == "1142733646600614004"  # type: ignore[index]


def test_har_with_zlib_and_zstd_frames(tmp_path: Path) -> None:
    for compress in ("zlib-stream", "zstd-stream"):
        result = birbctl("decode", str(discord_har(tmp_path / f"{compress}.har", compress)))
        rows = jsonl(result)
        assert [r["t"] for r in rows if r["op"] == 0] == [
            "READY",
            "MESSAGE_CREATE",
            "MESSAGE_UPDATE",
            "GUILD_CREATE",
        ] * 2
        assert TOKEN.encode() not in result.stdout


def test_filters(tmp_path: Path) -> None:
    path = str(record_session(tmp_path / "s.cap"))
    events = jsonl(birbctl("decode", "-e", "message_*", path))
    assert [r["t"] for r in events] == ["MESSAGE_CREATE", "MESSAGE_UPDATE"]
    both = jsonl(birbctl("decode", "-e", "READY", "-e", "GUILD_*", path))
    assert [r["t"] for r in both] == ["READY", "GUILD_CREATE"]
    assert [r["op"] for r in jsonl(birbctl("decode", "--op", "hello", path))] == [10, 10]
    assert [r["op"] for r in jsonl(birbctl("decode", "--op", "6", path))] == [6]
    sent = jsonl(birbctl("decode", "--dir", "send", path))
    assert [r["op"] for r in sent] == [2, 1, 6]
    quiet = jsonl(birbctl("decode", "--no-heartbeats", path))
    assert not any(r["op"] in (1, 11) for r in quiet) and len(quiet) == 8
    one_line_error(birbctl("decode", "--op", "nope", path), 2)
    bad_dir = birbctl("decode", "--dir", "up", path)  # typer's usage error, choices named
    assert bad_dir.returncode == 2 and b"'send', 'recv'" in bad_dir.stderr


def test_json_array_output(tmp_path: Path) -> None:
    path = str(record_session(tmp_path / "s.cap"))
    result = birbctl("decode", "--to", "json", path)
    assert result.returncode == 0
    assert json.loads(result.stdout) == jsonl(birbctl("decode", path))
    empty = birbctl("decode", "--to", "json", "-e", "NOTHING", path)
    assert json.loads(empty.stdout) == []


def test_etf_output_is_client_style(tmp_path: Path) -> None:
    path = str(record_session(tmp_path / "s.cap"))
    result = birbctl("decode", "--to", "etf", "--op", "hello", path)
    hello = {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}
    assert result.stdout == encode_etf(hello, style="client") * 2


def test_pretty_lines(tmp_path: Path) -> None:
    result = birbctl("decode", "--to", "pretty", str(record_session(tmp_path / "s.cap")))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 10
    assert "← HELLO" in lines[0] and "heartbeat_interval" in lines[0]
    assert "→ IDENTIFY" in lines[1] and "[REDACTED]" in lines[1]
    assert "MESSAGE_CREATE" in lines[3] and "s=2" in lines[3]
    assert "\x1b[" not in result.stdout.decode()  # no colour codes into a pipe


def test_stats(tmp_path: Path) -> None:
    result = birbctl("decode", "--stats", str(record_session(tmp_path / "s.cap")))
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    for needle in (
        "messages",
        "10",
        "DISPATCH",
        "HELLO",
        "MESSAGE_CREATE",
        "compression ratio",
        "bytes on the wire",
        "bytes inflated",
        "6.300 s",
    ):
        assert needle in text, needle


def test_keep_going_prints_the_rest_and_exits_3(tmp_path: Path) -> None:
    path = record_session(tmp_path / "s.cap")
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3][:20]  # line 4 (the IDENTIFY sent) cut in the middle
    path.write_bytes(b"\n".join(lines))
    err = one_line_error(birbctl("decode", str(path)))
    assert f"{path}:frame 4:byte " in err
    result = birbctl("decode", "--keep-going", str(path))
    assert result.returncode == 3
    assert "skipped 1 undecodable frame (first: " in result.stderr.decode()
    assert len(result.stdout.splitlines()) == 9
    stats = birbctl("decode", "-k", "--stats", str(path))
    assert "skipped (undecodable)" in stats.stdout.decode() and stats.returncode == 3


def capture_with(tmp_path: Path, line: bytes, *, encoding: str = "json") -> Path:
    path = tmp_path / "h.cap"
    with CaptureWriter(path, url=None, encoding=encoding, compress="zlib-stream"):
        pass
    with path.open("ab") as fh:
        fh.write(line + b"\n")
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("name", "line", "needle"),
    [
        ("bad base64", b'{"t":1.0,"conn":1,"dir":"recv","kind":"binary","data":"@@@"}', "base64"),
        (
            "corrupt zlib",
            orjson.dumps(
                {
                    "t": 1.0,
                    "conn": 1,
                    "dir": "recv",
                    "kind": "binary",
                    "data": b64(b"\x78\x9c\xff\xff\xff\x00\x00\xff\xff"),
                }
            ),
            "zlib",
        ),
        ("truncated", b'{"t":1.0,"conn":1,"dir":"re', "invalid JSON"),
        ("wrong event", b'["not", "an", "event"]', "JSON object"),
    ],
)
def test_hostile_capture_lines(tmp_path: Path, name: str, line: bytes, needle: str) -> None:
    err = one_line_error(birbctl("decode", str(capture_with(tmp_path, line))))
    assert ":frame 2:byte " in err and needle in err, err


def test_huge_declared_sizes(tmp_path: Path) -> None:
    # An ETF list that claims 4 billion items, and a COMPRESSED term that claims 4 GiB.
    for term in (bytes([131, 108, 255, 255, 255, 255]), bytes([131, 80, 255, 255, 255, 255, 0])):
        frame = zlib.compressobj()
        data = frame.compress(term) + frame.flush(zlib.Z_SYNC_FLUSH)
        line = orjson.dumps(
            {"t": 1.0, "conn": 1, "dir": "recv", "kind": "binary", "data": b64(data)}
        )
        err = one_line_error(birbctl("decode", str(capture_with(tmp_path, line, encoding="etf"))))
        assert ":frame 2:" in err


def test_zlib_bomb_in_a_capture_is_capped(tmp_path: Path) -> None:
    deflate = zlib.compressobj(9)
    bomb = deflate.compress(b"\x00" * (129 * 1024 * 1024)) + deflate.flush(zlib.Z_SYNC_FLUSH)
    line = orjson.dumps({"t": 1.0, "conn": 1, "dir": "recv", "kind": "binary", "data": b64(bomb)})
    err = one_line_error(birbctl("decode", str(capture_with(tmp_path, line))))
    assert "cap" in err


@pytest.mark.parametrize(
    ("content", "fmt", "needle"),
    [
        (b'{"format":"birbctl-capture","version":9}\n', None, "unsupported capture version 9"),
        (b'{"format": "nope"}\n{"a": 1}\n', "capture", "not a birbctl capture"),
        (b'{\n  "log": {"entries": [', None, "not a HAR file"),
        (b"plain text", "har", "not a HAR file"),
        (b"", "capture", "no capture header"),
    ],
)
def test_hostile_files(tmp_path: Path, content: bytes, fmt: str | None, needle: str) -> None:
    path = tmp_path / "x"
    path.write_bytes(content)
    args = ["decode", *(["--from", fmt] if fmt else []), str(path)]
    assert needle in one_line_error(birbctl(*args))


def test_stdin_capture_and_closed_pipe(tmp_path: Path) -> None:
    path = tmp_path / "big.cap"
    with CaptureWriter(path, url=None, encoding="json", compress=None) as writer:
        for _ in range(30_000):
            writer.frame(1, "recv", '{"op":11,"d":null}', t=1.0)
    assert len(jsonl(birbctl("decode", "-", stdin=path.read_bytes()))) == 30_000
    for to in ("jsonl", "pretty"):
        assert_quiet_on_closed_pipe("decode", "--to", to, str(path))
