"""CaptureWriter: the DESIGN 4 format, 0600, a line on disk per event, no token ever."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from captures import IDENTIFY, RESUME, TOKEN, client_frame, record_session

from birbctl.capture.reader import read_capture
from birbctl.capture.writer import CaptureWriteError, CaptureWriter
from birbctl.codec.etf import decode_etf


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_header_and_events_follow_the_design(tmp_path: Path) -> None:
    path = record_session(tmp_path / "s.capture")
    header, *events = lines(path)
    assert header["format"] == "birbctl-capture" and header["version"] == 1
    assert header["encoding"] == "json" and header["compress"] == "zlib-stream"
    assert header["shard"] is None and header["created"].endswith("+00:00")
    assert {e["kind"] for e in events} == {"open", "binary", "text", "close"}
    close = next(e for e in events if e["kind"] == "close")
    assert close["code"] == 4000 and close["data"] == "zombie"
    for event in events:
        assert set(event) >= {"t", "conn", "dir", "kind", "data"}


def test_file_is_private_even_when_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "s.capture"
    path.write_text("old")
    path.chmod(0o644)
    CaptureWriter(path, url=None, encoding="json", compress=None).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"old" not in path.read_bytes()


def test_each_event_is_on_disk_before_the_next_call(tmp_path: Path) -> None:
    path = tmp_path / "live.capture"
    with CaptureWriter(path, url="wss://x/", encoding="json", compress=None) as writer:
        writer.opened(1)
        writer.frame(1, "recv", '{"op":10,"d":{"heartbeat_interval":41250}}')
        # Read while the writer is still open: nothing may sit in a buffer.
        with path.open("rb") as fh:
            messages = list(read_capture(fh))
        assert [m.op for m in messages] == [10]
        assert path.read_bytes().endswith(b"\n")


@pytest.mark.parametrize("encoding", ["json", "etf"])
@pytest.mark.parametrize("payload", [IDENTIFY, RESUME], ids=["identify", "resume"])
def test_tokens_are_redacted_in_both_encodings(
    tmp_path: Path, encoding: str, payload: dict[str, Any]
) -> None:
    path = tmp_path / "t.capture"
    with CaptureWriter(path, url="wss://x/", encoding=encoding, compress="zlib-stream") as w:
        w.frame(1, "send", client_frame(payload, encoding))
    raw = path.read_bytes()
    assert TOKEN.encode() not in raw and b"s3cr3t" not in raw
    [event] = lines(path)[1:]
    if encoding == "etf":
        import base64

        assert event["kind"] == "binary"
        sent = decode_etf(base64.b64decode(event["data"]))
    else:
        assert event["kind"] == "text"
        sent = orjson.loads(event["data"])
    assert sent["d"]["token"] == "[REDACTED]"
    assert {k: v for k, v in sent["d"].items() if k != "token"} == {
        k: v for k, v in payload["d"].items() if k != "token"
    }


def test_undecodable_send_is_a_marker_not_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "m.capture"
    secret = b"\x83garbage" + TOKEN.encode()
    with CaptureWriter(path, url=None, encoding="etf", compress=None) as writer:
        writer.frame(1, "send", secret)
        writer.frame(1, "send", '{"op": 2, "d": {"token": "' + TOKEN)  # cut JSON
    raw = path.read_bytes()
    assert TOKEN.encode() not in raw
    events = lines(path)[1:]
    assert all(e["data"] == "" and "redacted" in e for e in events)
    with path.open("rb") as fh:
        assert list(read_capture(fh)) == []  # markers are skipped, not errors


def test_sends_without_token_are_kept_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "k.capture"
    frame = '{"op":1,  "d":7}'
    with CaptureWriter(path, url=None, encoding="json", compress=None) as writer:
        writer.frame(1, "send", frame)
    assert lines(path)[1]["data"] == frame


def test_url_credentials_are_stripped(tmp_path: Path) -> None:
    path = tmp_path / "u.capture"
    url = f"wss://user:pw@gateway.discord.gg/?v=10&encoding=json&token={TOKEN}"
    CaptureWriter(path, url=url, encoding="json", compress=None).close()
    header = lines(path)[0]
    assert TOKEN not in header["url"] and "pw" not in header["url"]
    assert "encoding=json" in header["url"]


def test_full_disk_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = CaptureWriter(tmp_path / "f.capture", url=None, encoding="json", compress=None)

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(CaptureWriteError, match="disk full"):
        writer.frame(1, "recv", "{}")
    with pytest.raises(CaptureWriteError, match="closed"):
        writer.frame(1, "recv", "{}")


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureWriteError, match="cannot create capture"):
        CaptureWriter(tmp_path / "no" / "dir", url=None, encoding="json", compress=None)


def test_an_open_line_without_a_shard_takes_the_headers(tmp_path: Path) -> None:
    path = tmp_path / "shard.capture"
    with CaptureWriter(path, url=None, encoding="json", compress=None, shard=(2, 4)) as writer:
        writer.opened(1)
        writer.frame(1, "recv", '{"op":10,"d":{"heartbeat_interval":41250}}')
    with path.open("rb") as fh:
        [hello] = list(read_capture(fh))
    assert hello.shard == (2, 4)
