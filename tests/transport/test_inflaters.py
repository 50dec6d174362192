"""Transport inflaters: real vectors, messages spanning frames, caps, corruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import zlib_stream, zstd_stream

from birbctl.errors import InflateError
from birbctl.protocol.wire import Compression
from birbctl.transport.deflate import make_deflater
from birbctl.transport.inflate import (
    IdentityInflater,
    ZlibStreamInflater,
    ZstdStreamInflater,
    make_inflater,
)

MESSAGES = [
    json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}).encode(),
    json.dumps({"op": 0, "t": "READY", "s": 1, "d": {"v": 10, "guilds": []}}).encode(),
    json.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": {"content": "x" * 3000}}).encode(),
    json.dumps({"op": 11, "d": None, "s": None, "t": None}).encode(),
]


def feed_all(inflater: ZlibStreamInflater | ZstdStreamInflater, frames: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for frame in frames:
        message = inflater.feed(frame)
        if message is not None:
            out.append(message)
    return out


@pytest.mark.parametrize(
    "name", ["twilight_zlib_stream_hello", "erlpack_issue55_zlib_stream_hello"]
)
def test_zlib_vector_decodes(vectors: Path, name: str) -> None:
    message = ZlibStreamInflater().feed((vectors / f"{name}.bin").read_bytes())
    assert message is not None
    assert json.loads(message) == json.loads((vectors / f"{name}.expected.json").read_text())


def test_discordbm_frames_share_one_inflate_context(vectors: Path) -> None:
    inflater = ZlibStreamInflater()
    for i in range(3):
        message = inflater.feed((vectors / f"discordbm_zlib_stream_frame{i}.bin").read_bytes())
        assert message is not None
        expected = json.loads(
            (vectors / f"discordbm_zlib_stream_frame{i}.expected.json").read_text()
        )
        assert json.loads(message) == expected
    # Frame 1 alone cannot be inflated: the context is the connection's, not the frame's.
    with pytest.raises(InflateError):
        ZlibStreamInflater().feed((vectors / "discordbm_zlib_stream_frame1.bin").read_bytes())


def test_zstd_vector_decodes(vectors: Path) -> None:
    data = (vectors / "twilight_zstd_stream_hello.bin").read_bytes()
    message = ZstdStreamInflater().feed(data)
    assert message is not None
    assert json.loads(message) == json.loads(
        (vectors / "twilight_zstd_stream_hello.expected.json").read_text()
    )


def _split_everywhere(frames: list[bytes]) -> list[list[bytes]]:
    """The stream's frames, with one of them cut in two at each possible byte."""
    variants = []
    for index, frame in enumerate(frames):
        for cut in range(1, len(frame)):
            variants.append([*frames[:index], frame[:cut], frame[cut:], *frames[index + 1 :]])
    return variants


def _assert_split_invariant(
    make: type[ZlibStreamInflater] | type[ZstdStreamInflater], frames: list[bytes]
) -> None:
    expected = feed_all(make(), frames)
    for variant in _split_everywhere(frames):
        assert feed_all(make(), variant) == expected


def test_zlib_messages_spanning_frames_at_every_byte(vectors: Path) -> None:
    frames = [(vectors / f"discordbm_zlib_stream_frame{i}.bin").read_bytes() for i in range(3)]
    _assert_split_invariant(ZlibStreamInflater, frames)


def test_zlib_generated_stream_at_every_byte() -> None:
    frames = zlib_stream(MESSAGES)
    assert feed_all(ZlibStreamInflater(), frames) == MESSAGES
    _assert_split_invariant(ZlibStreamInflater, frames)


def test_zstd_vector_at_every_byte(vectors: Path) -> None:
    _assert_split_invariant(
        ZstdStreamInflater, [(vectors / "twilight_zstd_stream_hello.bin").read_bytes()]
    )


@pytest.mark.parametrize("frame_per_message", [False, True])
def test_zstd_generated_stream_at_every_byte(frame_per_message: bool) -> None:
    frames = zstd_stream(MESSAGES, frame_per_message=frame_per_message)
    assert feed_all(ZstdStreamInflater(), frames) == MESSAGES
    _assert_split_invariant(ZstdStreamInflater, frames)


def test_zlib_cap_on_one_message() -> None:
    [bomb] = zlib_stream([b"\x00" * 1_000_000])
    with pytest.raises(InflateError, match="cap"):
        ZlibStreamInflater(max_size=64 * 1024).feed(bomb)


def test_zstd_cap_on_one_message() -> None:
    [bomb] = zstd_stream([b"\x00" * 1_000_000])
    with pytest.raises(InflateError, match="cap"):
        ZstdStreamInflater(max_size=64 * 1024).feed(bomb)


def test_zlib_without_end_marker_is_bounded() -> None:
    inflater = ZlibStreamInflater(max_size=1000)
    inflater.feed(b"\x78\x9c" + b"\x01" * 600)
    with pytest.raises(InflateError, match="no end of message"):
        inflater.feed(b"\x01" * 600)


def test_zlib_corrupt_frame_says_where() -> None:
    frames = zlib_stream(MESSAGES[:2])
    inflater = ZlibStreamInflater()
    inflater.feed(frames[0])
    broken = bytes([frames[1][0] ^ 0xFF]) + frames[1][1:]
    with pytest.raises(InflateError, match="corrupt zlib-stream") as info:
        inflater.feed(broken)
    assert info.value.offset == len(frames[0])


def test_zstd_corrupt_frame_is_an_inflate_error() -> None:
    with pytest.raises(InflateError):
        ZstdStreamInflater().feed(b"\x28\xb5\x2f\xfd" + b"\xff" * 40)
    with pytest.raises(InflateError, match="not a zstd frame"):
        ZstdStreamInflater().feed(b"hello world, not zstd")


def test_identity_and_factory() -> None:
    assert IdentityInflater().feed(b"abc") == b"abc"
    with pytest.raises(InflateError):
        IdentityInflater(max_size=2).feed(b"abc")
    assert isinstance(make_inflater(Compression.NONE), IdentityInflater)
    assert isinstance(make_inflater(Compression.ZLIB_STREAM), ZlibStreamInflater)
    assert isinstance(make_inflater(Compression.ZSTD_STREAM), ZstdStreamInflater)
    assert [make_inflater(c).compress for c in Compression] == list(Compression)
    assert [make_deflater(c).compress for c in Compression] == list(Compression)
    with pytest.raises(ValueError):
        make_inflater("gzip")  # type: ignore[arg-type]
