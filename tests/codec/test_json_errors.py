"""JSON decode errors point at the right byte: invalid UTF-8 at its first bad byte (orjson
says char 0 whatever the byte), in every path that decodes JSON."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from conftest import birbctl, one_line_error

from birbctl.capture.sources import iter_messages
from birbctl.capture.writer import CaptureWriter
from birbctl.codec.json import decode_json
from birbctl.codec.message import decode_message
from birbctl.codec.packets import PacketReader
from birbctl.errors import DecodeError
from birbctl.protocol.wire import Compression, Encoding

BAD = b'{"op":0,"d":{"content":"caf\xc3\xa9 \xff!"}}'
AT = BAD.index(b"\xff")


@pytest.mark.parametrize("decode", [decode_json, decode_message])
def test_invalid_utf8_is_located_at_the_first_bad_byte(decode: object) -> None:
    with pytest.raises(DecodeError) as info:
        decode(BAD)  # type: ignore[operator]
    assert info.value.offset == AT
    assert "UTF-8" in info.value.message


def test_a_truncated_sequence_and_a_lone_surrogate() -> None:
    with pytest.raises(DecodeError) as info:
        decode_json(b'["ok", "\xe2\x82"]')
    assert info.value.offset == 8
    # A text frame is str: a lone surrogate is its bad spot, as a UTF-8 offset.
    with pytest.raises(DecodeError) as info:
        decode_json('["\u00e9", "\ud800"]')
    assert info.value.offset == len('["\u00e9", "'.encode())


@pytest.mark.parametrize("compress", [None, "zlib-stream"])
def test_live_reader(compress: str | None) -> None:
    reader = PacketReader(Encoding.JSON, Compression.of(compress))
    frame = BAD
    if compress:  # one sync-flushed message, as the gateway sends it
        deflater = zlib.compressobj()
        frame = deflater.compress(BAD) + deflater.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(DecodeError) as info:
        reader.feed(frame)
    assert (info.value.frame, info.value.offset) == (1, AT)


def test_decode_json_file_and_json_lines(tmp_path: Path) -> None:
    single = tmp_path / "bad.json"
    single.write_bytes(BAD)
    err = one_line_error(birbctl("decode", str(single)))
    assert f":frame 1:byte {AT}: invalid JSON" in err
    lines = tmp_path / "bad.jsonl"
    first = b'{"op":11}\n'
    lines.write_bytes(first + BAD + b"\n")
    err = one_line_error(birbctl("decode", "--from", "jsonl", str(lines)))
    assert f":frame 2:byte {len(first) + AT}: invalid JSON" in err


def test_capture_frames(tmp_path: Path) -> None:
    """In a capture, the message's bad byte is named inside it; and a frame that is not
    JSON is an invalid-JSON error, not "corrupt base64" breaking the connection."""
    path = tmp_path / "bad.capture"
    deflater = zlib.compressobj()

    def frame(message: bytes) -> bytes:
        return deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)

    with CaptureWriter(path, url=None, encoding="json", compress="zlib-stream") as writer:
        writer.opened(1, t=1.0)
        writer.frame(1, "recv", frame(b'{"op":11}'), t=2.0)
        writer.frame(1, "recv", frame(BAD), t=3.0)
        writer.frame(1, "recv", frame(b'{"op":11,"s":7}'), t=4.0)
    errors: list[DecodeError] = []
    messages = list(iter_messages(str(path), on_error=errors.append))
    assert [m.payload for m in messages] == [{"op": 11}, {"op": 11, "s": 7}]
    assert len(errors) == 1
    assert errors[0].frame == 4
    assert errors[0].message.endswith(f"(at byte {AT} of the message)")
    assert errors[0].message.startswith("invalid JSON: ")


@pytest.mark.parametrize(
    "text",
    ['{"éé": x}', '{"😀": x}', '{"a": x}', '["ü", "ß", x]'],
)
def test_the_offset_is_in_bytes_whatever_the_characters(text: str) -> None:
    """orjson counts characters; a located error says the byte, as a hex dump would."""
    expected = text.encode().index(b"x")
    for data in (text.encode(), text):
        with pytest.raises(DecodeError) as caught:
            decode_json(data)
        assert caught.value.offset == expected, data
