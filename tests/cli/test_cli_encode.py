"""`birbctl encode`: JSON in, ETF (client or server style) or JSON out; decode undoes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import birbctl, one_line_error

from birbctl.codec.etf import decode_etf, encode_etf

PAYLOADS = [
    {"op": 2, "d": {"intents": 513, "properties": {"os": "linux"}, "shard": [0, 1]}},
    {
        "op": 0,
        "t": "MESSAGE_CREATE",
        "s": 5,
        "d": {
            "id": "1142733646600614004",
            "n": None,
            "ok": True,
            "x": 1.5,
            "list": [1, "two", {"three": 3}],
            "emoji": "é🐦",
        },
    },
    {"op": 1, "d": None},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_encode_then_decode_is_identity(payload: dict[str, object]) -> None:
    encoded = birbctl("encode", "-", stdin=json.dumps(payload).encode())
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout == encode_etf(payload, style="client")
    decoded = birbctl("decode", "-", stdin=encoded.stdout)
    assert decoded.returncode == 0, decoded.stderr
    assert json.loads(decoded.stdout) == payload


def test_server_style() -> None:
    payload = {"op": 0, "t": "READY", "d": {"id": "1142733646600614004"}}
    result = birbctl("encode", "--style", "server", "-", stdin=json.dumps(payload).encode())
    assert result.stdout == encode_etf(payload, style="server")
    assert decode_etf(result.stdout)["d"]["id"] == 1142733646600614004  # an integer on the wire
    assert json.loads(birbctl("decode", "-", stdin=result.stdout).stdout) == payload


def test_json_lines_to_file_and_json_output(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(json.dumps(p).encode() + b"\n" for p in PAYLOADS))
    out = tmp_path / "out.etf"
    assert birbctl("encode", str(source), "-o", str(out)).returncode == 0
    assert out.read_bytes() == b"".join(encode_etf(p, style="client") for p in PAYLOADS)
    normal = birbctl("encode", "--to", "json", str(source))
    assert [json.loads(line) for line in normal.stdout.splitlines()] == PAYLOADS


def test_errors(tmp_path: Path) -> None:
    assert "invalid JSON" in one_line_error(birbctl("encode", "-", stdin=b'{"op": '), 3)
    too_big = b"[" * 600 + b"]" * 600  # deeper than the 254 levels any message may have
    assert "nested deeper than 254 levels" in one_line_error(
        birbctl("encode", "-", stdin=too_big), 3
    )
    for option, value in (("--to", "xml"), ("--style", "odd")):  # typer's usage errors
        result = birbctl("encode", option, value, "-", stdin=b"{}")
        assert result.returncode == 2 and f"Invalid value for '{option}'" in result.stderr.decode()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"op": 1}\n{"op": 1}\n{nope}\n')
    out = tmp_path / "o.etf"
    err = one_line_error(birbctl("encode", str(bad), "-o", str(out)), 3)
    assert ":frame 3:byte 21:" in err and not out.exists()


def test_refuses_binary_to_a_terminal() -> None:
    """stdout a terminal: ETF is refused (exit 2) unless --force, like gzip."""
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "birbctl", "encode", "-"],
            input=b'{"op": 1}',
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2 and b"terminal" in result.stderr
        forced = subprocess.run(
            [sys.executable, "-m", "birbctl", "encode", "--force", "-"],
            input=b'{"op": 1}',
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
        assert forced.returncode == 0
    finally:
        os.close(leader)
        os.close(follower)
