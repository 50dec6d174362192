"""Transport inflaters: real vectors, messages spanning frames, caps, corruption."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import twins, zlib_stream, zstd_stream

from birbctl.errors import InflateError
from birbctl.protocol.wire import Compression
from birbctl.transport.deflate import make_deflater
from birbctl.transport.inflate import (
    DEFAULT_MAX_MESSAGE,
    CZlibStreamInflater,
    CZstdStreamInflater,
    IdentityInflater,
    Inflater,
    ZlibStreamInflater,
    ZstdStreamInflater,
    make_inflater,
)


def c_twin(c_class: Any) -> Callable[..., Inflater]:
    """The C class, with the Python one's default cap."""

    def make(max_size: int = DEFAULT_MAX_MESSAGE) -> Inflater:
        return c_class(max_size)  # type: ignore[no-any-return]

    return make


#: Every zlib (zstd) test runs on the rule in Python and on its C twin.
ZLIB = twins(
    "zlib_inflater",
    ZlibStreamInflater,
    c_twin(CZlibStreamInflater),
    built=CZlibStreamInflater is not None,
)
ZSTD = twins(
    "zstd_inflater",
    ZstdStreamInflater,
    c_twin(CZstdStreamInflater),
    built=CZstdStreamInflater is not None,
)

MESSAGES = [
    json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}).encode(),
    json.dumps({"op": 0, "t": "READY", "s": 1, "d": {"v": 10, "guilds": []}}).encode(),
    json.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": {"content": "x" * 3000}}).encode(),
    json.dumps({"op": 11, "d": None, "s": None, "t": None}).encode(),
]


def feed_all(inflater: Inflater, frames: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for frame in frames:
        message = inflater.feed(frame)
        if message is not None:
            out.append(message)
    return out


@pytest.mark.parametrize(
    "name", ["twilight_zlib_stream_hello", "erlpack_issue55_zlib_stream_hello"]
)
@ZLIB
def test_zlib_vector_decodes(
    vectors: Path, name: str, zlib_inflater: Callable[..., Inflater]
) -> None:
    message = zlib_inflater().feed((vectors / f"{name}.bin").read_bytes())
    assert message is not None
    assert json.loads(message) == json.loads((vectors / f"{name}.expected.json").read_text())


@ZLIB
def test_discordbm_frames_share_one_inflate_context(
    vectors: Path, zlib_inflater: Callable[..., Inflater]
) -> None:
    inflater = zlib_inflater()
    for i in range(3):
        message = inflater.feed((vectors / f"discordbm_zlib_stream_frame{i}.bin").read_bytes())
        assert message is not None
        expected = json.loads(
            (vectors / f"discordbm_zlib_stream_frame{i}.expected.json").read_text()
        )
        assert json.loads(message) == expected
    # Frame 1 alone cannot be inflated: the context is the connection's, not the frame's.
    with pytest.raises(InflateError):
        zlib_inflater().feed((vectors / "discordbm_zlib_stream_frame1.bin").read_bytes())


@ZSTD
def test_zstd_vector_decodes(vectors: Path, zstd_inflater: Callable[..., Inflater]) -> None:
    data = (vectors / "twilight_zstd_stream_hello.bin").read_bytes()
    message = zstd_inflater().feed(data)
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


def _assert_split_invariant(make: Callable[[], Inflater], frames: list[bytes]) -> None:
    expected = feed_all(make(), frames)
    for variant in _split_everywhere(frames):
        assert feed_all(make(), variant) == expected


@ZLIB
def test_zlib_messages_spanning_frames_at_every_byte(
    vectors: Path, zlib_inflater: Callable[..., Inflater]
) -> None:
    frames = [(vectors / f"discordbm_zlib_stream_frame{i}.bin").read_bytes() for i in range(3)]
    _assert_split_invariant(zlib_inflater, frames)


@ZLIB
def test_zlib_generated_stream_at_every_byte(zlib_inflater: Callable[..., Inflater]) -> None:
    frames = zlib_stream(MESSAGES)
    assert feed_all(zlib_inflater(), frames) == MESSAGES
    _assert_split_invariant(zlib_inflater, frames)


@ZSTD
def test_zstd_vector_at_every_byte(vectors: Path, zstd_inflater: Callable[..., Inflater]) -> None:
    _assert_split_invariant(
        zstd_inflater, [(vectors / "twilight_zstd_stream_hello.bin").read_bytes()]
    )


@pytest.mark.parametrize("frame_per_message", [False, True])
@ZSTD
def test_zstd_generated_stream_at_every_byte(
    frame_per_message: bool, zstd_inflater: Callable[..., Inflater]
) -> None:
    frames = zstd_stream(MESSAGES, frame_per_message=frame_per_message)
    assert feed_all(zstd_inflater(), frames) == MESSAGES
    _assert_split_invariant(zstd_inflater, frames)


@ZLIB
def test_zlib_cap_on_one_message(zlib_inflater: Callable[..., Inflater]) -> None:
    [bomb] = zlib_stream([b"\x00" * 1_000_000])
    with pytest.raises(InflateError, match="cap"):
        zlib_inflater(max_size=64 * 1024).feed(bomb)


@ZSTD
def test_zstd_cap_on_one_message(zstd_inflater: Callable[..., Inflater]) -> None:
    [bomb] = zstd_stream([b"\x00" * 1_000_000])
    with pytest.raises(InflateError, match="cap"):
        zstd_inflater(max_size=64 * 1024).feed(bomb)


@ZLIB
def test_zlib_without_end_marker_is_bounded(zlib_inflater: Callable[..., Inflater]) -> None:
    inflater = zlib_inflater(max_size=1000)
    inflater.feed(b"\x78\x9c" + b"\x01" * 600)
    with pytest.raises(InflateError, match="no end of message"):
        inflater.feed(b"\x01" * 600)


@ZLIB
def test_zlib_corrupt_frame_says_where(zlib_inflater: Callable[..., Inflater]) -> None:
    frames = zlib_stream(MESSAGES[:2])
    inflater = zlib_inflater()
    inflater.feed(frames[0])
    broken = bytes([frames[1][0] ^ 0xFF]) + frames[1][1:]
    with pytest.raises(InflateError, match="corrupt zlib-stream") as info:
        inflater.feed(broken)
    assert info.value.offset == len(frames[0])


@ZSTD
def test_zstd_corrupt_frame_is_an_inflate_error(zstd_inflater: Callable[..., Inflater]) -> None:
    with pytest.raises(InflateError):
        zstd_inflater().feed(b"\x28\xb5\x2f\xfd" + b"\xff" * 40)
    with pytest.raises(InflateError, match="not a zstd frame"):
        zstd_inflater().feed(b"hello world, not zstd")


def test_identity_and_factory() -> None:
    assert IdentityInflater().feed(b"abc") == b"abc"
    with pytest.raises(InflateError):
        IdentityInflater(max_size=2).feed(b"abc")
    assert isinstance(make_inflater(Compression.NONE), IdentityInflater)
    zlib_class = ZlibStreamInflater if CZlibStreamInflater is None else CZlibStreamInflater
    assert isinstance(make_inflater(Compression.ZLIB_STREAM), zlib_class)
    zstd_class = ZstdStreamInflater if CZstdStreamInflater is None else CZstdStreamInflater
    assert isinstance(make_inflater(Compression.ZSTD_STREAM), zstd_class)
    assert [make_inflater(c).compress for c in Compression] == list(Compression)
    assert [make_deflater(c).compress for c in Compression] == list(Compression)
    with pytest.raises(ValueError):
        make_inflater("gzip")  # type: ignore[arg-type]
