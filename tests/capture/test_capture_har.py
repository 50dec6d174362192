"""HAR files in the shape Chromium's DevTools exports, with compressed binary frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from captures import EVENTS, TOKEN, discord_har, har_entry, har_file, ws_message

from birbctl.capture.sources import iter_messages
from birbctl.errors import DecodeError


@pytest.mark.parametrize("compress", ["zlib-stream", "zstd-stream"])
@pytest.mark.parametrize("encoding", ["json", "etf"])
def test_discord_har_decodes(tmp_path: Path, compress: str, encoding: str) -> None:
    path = discord_har(tmp_path / "discord.har", compress, encoding)
    messages = list(iter_messages(str(path)))
    received = [m.payload for m in messages if m.direction == "recv"]
    assert received == EVENTS * 2  # two connections, each with its own inflate context
    sent = [m for m in messages if m.direction == "send"]
    assert [m.payload["d"]["token"] for m in sent] == ["[REDACTED]"] * 2
    assert [m.conn for m in messages] == [2] * 7 + [3] * 7  # entry numbers
    assert messages[0].ts == 1000.0 and messages[0].kind == "binary"


def test_text_frames_and_url_detection(tmp_path: Path) -> None:
    entry = har_entry(
        "wss://gateway.discord.gg/?v=10&encoding=json",
        [ws_message("receive", 1.0, '{"op":11,"d":null}'), ws_message("send", 2.0, '{"op":1}')],
    )
    del entry["_resourceType"]  # some exporters leave it out: the ws:// URL is enough
    path = har_file(tmp_path / "t.har", [entry])
    assert [(m.direction, m.op) for m in iter_messages(str(path))] == [("recv", 11), ("send", 1)]


def test_token_never_leaves_a_har(tmp_path: Path) -> None:
    path = discord_har(tmp_path / "d.har", "zlib-stream")
    assert TOKEN.encode() in path.read_bytes()  # the browser recorded it...
    assert all(TOKEN not in repr(m.payload) for m in iter_messages(str(path)))  # ...we don't


def test_corrupt_frame_in_har_is_located_and_skips_that_connection(tmp_path: Path) -> None:
    path = discord_har(tmp_path / "d.har", "zlib-stream")
    import orjson

    doc = orjson.loads(path.read_bytes())
    doc["log"]["entries"][1]["_webSocketMessages"][2]["data"] = "////AAD//w=="
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(DecodeError) as info:
        list(iter_messages(str(path)))
    assert str(info.value).startswith(f"{path}:frame 3: ")
    assert "[entry 2, message 3]" in str(info.value)
    errors: list[DecodeError] = []
    messages = list(iter_messages(str(path), on_error=errors.append))
    assert len(errors) == 1
    assert len([m for m in messages if m.conn == 3]) == 7  # the second connection is whole


def test_not_a_har(tmp_path: Path) -> None:
    path = tmp_path / "x.har"
    path.write_bytes(b'{"log": {"entries": [')
    with pytest.raises(DecodeError, match="not a HAR file: invalid JSON"):
        list(iter_messages(str(path), "har"))
    path.write_bytes(b'{"log": {"pages": []}}')
    with pytest.raises(DecodeError, match="not a HAR file"):
        list(iter_messages(str(path), "har"))


def test_unknown_compression_in_url(tmp_path: Path) -> None:
    entry = har_entry("wss://g/?encoding=json&compress=lz4", [ws_message("receive", 1, "{}")])
    path = har_file(tmp_path / "c.har", [entry])
    with pytest.raises(DecodeError, match="compress 'lz4'"):
        list(iter_messages(str(path)))
