"""read_capture: inflate contexts replayed per connection; located, countable errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from captures import EVENTS, record_session

from birbctl.capture.sources import iter_messages
from birbctl.errors import DecodeError


def decoded(path: Path, **kwargs: object) -> list[object]:
    return [(m.direction, m.conn, m.payload) for m in iter_messages(str(path), **kwargs)]  # type: ignore[arg-type]


@pytest.mark.parametrize("compress", ["zlib-stream", "zstd-stream", None])
@pytest.mark.parametrize("encoding", ["json", "etf"])
def test_every_event_decodes_with_its_connection(
    tmp_path: Path, encoding: str, compress: str | None
) -> None:
    path = record_session(tmp_path / "s.capture", encoding, compress)
    messages = list(iter_messages(str(path)))
    received = [m.payload for m in messages if m.direction == "recv"]
    assert received == EVENTS[:4] + EVENTS[:1] + EVENTS[4:]
    sent = [m.payload for m in messages if m.direction == "send"]
    assert [p["op"] for p in sent] == [2, 1, 6]
    assert sent[0]["d"]["token"] == "[REDACTED]"
    assert [m.conn for m in messages] == [1] * 6 + [2] * 4
    assert all(m.frame > 1 and m.offset and m.ts for m in messages)


def test_json_and_etf_captures_decode_to_identical_json(tmp_path: Path) -> None:
    as_json = record_session(tmp_path / "j.capture", "json", "zlib-stream")
    as_etf = record_session(tmp_path / "e.capture", "etf", "zlib-stream")
    one = [orjson.dumps(m.payload) for m in iter_messages(str(as_json))]
    two = [orjson.dumps(m.payload) for m in iter_messages(str(as_etf))]
    assert one == two
    assert b'"id":"1142733646600614004"' in two[2]  # snowflakes as strings


def test_wire_and_inflated_sizes(tmp_path: Path) -> None:
    path = record_session(tmp_path / "s.capture", "json", "zlib-stream")
    hello = next(iter_messages(str(path)))
    assert hello.size == len(orjson.dumps(EVENTS[0]))
    assert hello.wire_size > 0


def corrupt_line(path: Path, number: int, edit: object) -> int:
    """Apply `edit` to line `number` (1-based); return that line's byte offset."""
    lines = path.read_bytes().split(b"\n")
    offset = sum(len(line) + 1 for line in lines[: number - 1])
    lines[number - 1] = edit(lines[number - 1])  # type: ignore[operator]
    path.write_bytes(b"\n".join(lines))
    return offset


def test_corrupt_compressed_frame_is_located(tmp_path: Path) -> None:
    path = record_session(tmp_path / "s.capture")
    # Line 5 is READY on conn 1: flip its base64 into other (valid base64) bytes.
    event = orjson.loads(path.read_bytes().split(b"\n")[4])
    assert event["dir"] == "recv" and event["kind"] == "binary"
    event["data"] = "AAAA" + event["data"][4:]
    offset = corrupt_line(path, 5, lambda _: orjson.dumps(event))
    with pytest.raises(DecodeError) as info:
        list(iter_messages(str(path)))
    assert str(info.value).startswith(f"{path}:frame 5:byte {offset}: ")
    assert "zlib" in str(info.value)


def test_keep_going_skips_the_rest_of_a_broken_connection_once(tmp_path: Path) -> None:
    path = record_session(tmp_path / "s.capture")
    event = orjson.loads(path.read_bytes().split(b"\n")[4])
    event["data"] = "AAAA" + event["data"][4:]
    corrupt_line(path, 5, lambda _: orjson.dumps(event))
    errors: list[DecodeError] = []
    messages = list(iter_messages(str(path), on_error=errors.append))
    assert len(errors) == 1 and errors[0].file == str(path)
    # conn 1: HELLO and the two sends survive; conn 2 (a fresh context) is whole.
    conn1 = [(1, 10), (1, 2), (1, 1)]
    conn2 = [(2, 10), (2, 6), (2, 0), (2, 0)]
    assert [(m.conn, m.op) for m in messages] == conn1 + conn2


def test_corrupt_base64_and_truncated_line(tmp_path: Path) -> None:
    path = record_session(tmp_path / "s.capture")
    corrupt_line(path, 3, lambda line: line.replace(b'"data":"', b'"data":"!!'))
    errors: list[DecodeError] = []
    list(iter_messages(str(path), on_error=errors.append))
    assert "corrupt base64" in errors[0].message and errors[0].frame == 3

    cut = record_session(tmp_path / "cut.capture")
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) - 20])
    with pytest.raises(DecodeError, match="truncated line"):
        list(iter_messages(str(cut)))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b'{"format":"birbctl-capture","version":2}', "unsupported capture version 2"),
        (b'{"format":"other"}', "not a birbctl capture"),
        (b'{"format":"birbctl-capture","version":1,"encoding":"xml"}', "encoding 'xml'"),
        (
            b'{"format":"birbctl-capture", "version":1, "encoding":"json", "compress":"lz4"}',
            "compress 'lz4'",
        ),
    ],
)
def test_bad_header(tmp_path: Path, header: bytes, message: str) -> None:
    path = tmp_path / "h.capture"
    path.write_bytes(header + b"\n")
    with pytest.raises(DecodeError, match=message) as info:
        list(iter_messages(str(path), "capture"))
    assert info.value.frame == 1


def test_bad_events(tmp_path: Path) -> None:
    path = record_session(tmp_path / "s.capture")
    data = path.read_bytes()
    extra = [
        b'{"t":1.0,"conn":1,"dir":"recv","kind":"pigeon","data":""}',
        b'{"t":1.0,"conn":"x","dir":"recv","kind":"text","data":"{}"}',
        b'{"t":1.0,"conn":1,"dir":"up","kind":"text","data":"{}"}',
        b'{"t":1.0,"dir":"recv","kind":"text","data":"{}"}',
        b"[1, 2]",
        b'{"t":1.0,"conn":9,"dir":"recv","kind":"text","data":"{not json"}',
    ]
    path.write_bytes(data + b"\n".join(extra) + b"\n")
    errors: list[DecodeError] = []
    list(iter_messages(str(path), on_error=errors.append))
    assert len(errors) == len(extra)
    assert "pigeon" in errors[0].message and "wrong type" in errors[1].message
    assert "'up'" in errors[2].message and "lacks 'conn'" in errors[3].message
    assert "JSON object" in errors[4].message and "invalid JSON" in errors[5].message


def test_huge_line_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    from birbctl.capture.reader import read_capture

    path = record_session(tmp_path / "s.capture")
    with path.open("ab") as fh:
        fh.write(b'{"t":1.0,"conn":1,"dir":"recv","kind":"text","data":"' + b"x" * 5000)
    with path.open("rb") as fh, pytest.raises(DecodeError, match="line longer than 1000"):
        list(read_capture(fh, max_line=1000))


def test_lines_off_the_writer_layout_decode_the_same(tmp_path: Path) -> None:
    """The reader's no-parse fast path must agree with the full parse: escaped JSON
    (`\\/` in base64), reordered keys, interleaved connections 1 and 12."""
    path = record_session(tmp_path / "s.capture", "json", "zlib-stream")
    expected = decoded(path)
    lines = path.read_bytes().splitlines()
    rewritten = [lines[0]]
    for line in lines[1:]:
        event = orjson.loads(line)
        if event["kind"] == "binary" and len(rewritten) % 2:
            # Same event, keys reordered and every "/" escaped: valid JSON, other bytes.
            reordered = {k: event[k] for k in ("data", "kind", "dir", "conn", "t")}
            text = orjson.dumps(reordered).decode().replace("/", "\\/")
            rewritten.append(text.encode())
        else:
            rewritten.append(line)
    other = tmp_path / "other.capture"
    other.write_bytes(b"\n".join(rewritten) + b"\n")
    assert decoded(other) == expected
    # Connection 12 next to connection 1: its frames must not be taken for conn 1's.
    renumbered = tmp_path / "twelve.capture"
    renumbered.write_bytes(path.read_bytes().replace(b'"conn":2,', b'"conn":12,'))
    assert [c for _, c, _ in decoded(renumbered)] == [12 if c == 2 else c for _, c, _ in expected]


@pytest.mark.parametrize("compress", ["zlib-stream", "zstd-stream"])
def test_pure_python_line_reading_decodes_the_same(
    tmp_path: Path, compress: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the C accelerator (no compiler at install), the reader takes the same lines
    the same way: the Python `recv_frame` gives every message, time and offset the C one
    gives."""
    from birbctl.capture import fastpath, reader

    path = record_session(tmp_path / "s.capture", "json", compress)

    def full(m: object) -> tuple[object, ...]:
        return tuple(getattr(m, f) for f in ("payload", "frame", "offset", "wire_size", "ts"))

    with_c = [full(m) for m in iter_messages(str(path))]
    monkeypatch.setattr(reader, "recv_frame", fastpath._recv_frame)
    assert [full(m) for m in iter_messages(str(path))] == with_c
    assert len(with_c) > 3
