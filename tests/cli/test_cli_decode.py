"""`birbctl decode` as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import assert_quiet_on_closed_pipe, birbctl, one_line_error, zlib_stream, zstd_stream

ROOT = Path(__file__).resolve().parents[2]


def lines(result: subprocess.CompletedProcess[bytes]) -> list[object]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_version() -> None:
    result = birbctl("--version")
    assert result.returncode == 0 and result.stdout.startswith(b"birbctl ")


def test_readme_example_decodes() -> None:
    result = birbctl("decode", str(ROOT / "examples" / "session.zlib-stream"))
    assert result.returncode == 0, result.stderr
    assert [m["t"] for m in lines(result)] == [
        None,
        None,
        "READY",
        "GUILD_CREATE",
        "MESSAGE_CREATE",
    ]  # type: ignore[index]


@pytest.mark.parametrize(
    "name",
    [
        "twilight_zlib_stream_hello",
        "twilight_zstd_stream_hello",
        "erlpack_issue55_zlib_stream_hello",
        "discordbm_zlib_stream_frame0",
    ],
)
def test_vectors_print_their_expected_json(vectors: Path, name: str) -> None:
    result = birbctl("decode", str(vectors / f"{name}.bin"))
    assert result.returncode == 0, result.stderr
    assert lines(result) == [json.loads((vectors / f"{name}.expected.json").read_text())]


def test_discordbm_session_as_one_raw_stream(vectors: Path, tmp_path: Path) -> None:
    raw = tmp_path / "session.bin"
    raw.write_bytes(
        b"".join((vectors / f"discordbm_zlib_stream_frame{i}.bin").read_bytes() for i in range(3))
    )
    result = birbctl("decode", str(raw))
    assert result.returncode == 0, result.stderr
    expected = [
        json.loads((vectors / f"discordbm_zlib_stream_frame{i}.expected.json").read_text())
        for i in range(3)
    ]
    assert lines(result) == expected


@pytest.mark.parametrize("name", ["cppetfer_etf_ready_v10", "gsmcwhirter_etf_hello_atomkeys"])
def test_etf_vectors_print_json(vectors: Path, name: str) -> None:
    result = birbctl("decode", str(vectors / f"{name}.bin"))
    assert result.returncode == 0, result.stderr
    [message] = lines(result)
    assert isinstance(message, dict) and "op" in message
    if name.startswith("cppetfer"):
        # Snowflakes come out as strings, as Discord's JSON carries them.
        assert message["t"] == "READY"
        assert message["d"]["user"]["id"] == "1142733646600614004"
        assert message["d"]["shard"] == [0, 1]


def test_raw_zstd_stream_file(tmp_path: Path) -> None:
    messages = [{"op": 0, "t": "X", "s": i, "d": {"n": "y" * i}} for i in range(1, 50)]
    raw = tmp_path / "s.zst"
    raw.write_bytes(b"".join(zstd_stream([json.dumps(m).encode() for m in messages])))
    result = birbctl("decode", str(raw))
    assert result.returncode == 0, result.stderr
    assert lines(result) == messages


def test_stdin_and_jsonl(tmp_path: Path) -> None:
    payloads = [{"op": 11, "d": None}, {"op": 1, "d": 5}]
    data = b"\n".join(json.dumps(p).encode() for p in payloads) + b"\n"
    result = birbctl("decode", "-", stdin=data)
    assert result.returncode == 0, result.stderr
    assert lines(result) == payloads


def test_pretty_output() -> None:
    # One readable line a packet; a raw file has no time or direction, so "#frame" and "·".
    result = birbctl("decode", "--to", "pretty", "-", stdin=b'{"op": 11, "d": null}')
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.decode().splitlines()
    assert line.split() == ["#1", "·", "HEARTBEAT_ACK", "-", "21B", "null"]


def test_raw_identify_token_is_redacted() -> None:
    result = birbctl("decode", "-", stdin=b'{"op": 2, "d": {"token": "abc.def.ghi"}}')
    assert lines(result) == [{"op": 2, "d": {"token": "[REDACTED]"}}]


def test_keep_going_on_raw_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"op": 1}\n{"op": \n{"op": 11}\n')
    result = birbctl("decode", "-k", str(path))
    assert lines(result) == [{"op": 1}, {"op": 11}]
    assert result.returncode == 3
    assert result.stderr.decode().startswith("birbctl: error: skipped 1 undecodable frame")


def test_truncated_stream_names_file_frame_and_byte(tmp_path: Path) -> None:
    frames = zlib_stream([json.dumps({"op": 0, "s": i, "d": "z" * 200}).encode() for i in range(3)])
    raw = tmp_path / "cut.bin"
    raw.write_bytes(b"".join(frames)[:-10])
    result = birbctl("decode", str(raw))
    err = one_line_error(result, 3)
    assert f"{raw}:frame 3:byte {len(frames[0]) + len(frames[1])}:" in err
    # Messages before the bad one were already printed: nothing decoded is lost.
    assert len(lines(result)) == 2


def test_bad_jsonl_line_is_located(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"op": 1}\n{"op": 2}\n{"op": \n')
    err = one_line_error(birbctl("decode", "--from", "jsonl", str(path)), 3)
    assert ":frame 3:byte 27:" in err  # line 3 starts at byte 20


def test_garbage_and_usage_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x01garbage")
    one_line_error(birbctl("decode", str(junk)), 3)
    one_line_error(birbctl("decode", str(tmp_path / "missing")), 2)
    bad_from = birbctl("decode", "--from", "nope", str(junk))  # typer's usage error
    assert bad_from.returncode == 2 and b"Invalid value for '--from'" in bad_from.stderr
    bad_etf = tmp_path / "bad.etf"
    bad_etf.write_bytes(bytes([131, 108, 255, 255, 255, 255]))
    one_line_error(birbctl("decode", str(bad_etf)), 3)


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_bytes(b'{"op": 11, "d": null}\n' * 200_000)
    assert_quiet_on_closed_pipe("decode", str(path))


# What the child reports at exit: how many write system calls it made (Linux /proc).
_COUNT_WRITES = """
import atexit, os, sys
def report():
    with open("/proc/self/io") as fh:
        syscw = [l for l in fh.read().splitlines() if l.startswith("syscw:")][0]
    os.write(2, syscw.encode() + b"\\n")
atexit.register(report)
sys.argv = ["birbctl", *sys.argv[1:]]
from birbctl.cli.app import main
main()
"""


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_a_file_decodes_in_large_writes_even_unbuffered(tmp_path: Path) -> None:
    """PYTHONUNBUFFERED=1 (set in many containers) must not make each line a system call
    when the input is a file; a pipe on stdin may be live, so there each message goes
    out at once."""
    import os
    import sys
    import zlib

    from birbctl.capture.writer import CaptureWriter

    path = tmp_path / "many.capture"
    deflate = zlib.compressobj()
    with CaptureWriter(path, url="wss://g/?v=10", encoding="json", compress="zlib-stream") as w:
        w.opened(1, t=1.0)
        for s in range(1, 3001):
            message = b'{"op":0,"t":"MESSAGE_CREATE","s":%d,"d":{"content":"hi"}}' % s
            frame = deflate.compress(message) + deflate.flush(zlib.Z_SYNC_FLUSH)
            w.frame(1, "recv", frame, t=1.0 + s / 1000)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def run(*args: str, stdin: bytes | None = None) -> tuple[bytes, int]:
        result = subprocess.run(
            [sys.executable, "-c", _COUNT_WRITES, "decode", *args],
            input=stdin, capture_output=True, env=env, timeout=60, check=True,
        )  # fmt: skip
        return result.stdout, int(result.stderr.split(b"syscw:")[1])

    from_file, file_writes = run(str(path))
    from_pipe, pipe_writes = run("-", stdin=path.read_bytes())
    assert from_file == from_pipe and from_file.count(b"\n") == 3000
    assert file_writes < 50, file_writes  # about 260 KB: a few 128 KiB blocks
    assert pipe_writes >= 3000  # live: one write a message
