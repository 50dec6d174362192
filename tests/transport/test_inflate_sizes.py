"""One message of every size, from 1 byte to the cap, in every transport compression,
through the live inflaters (frames as a websocket delivers them) and the raw-file path.

Messages are JSON strings of the exact size (the raw path must decode them to find
their end). The at-cap and over-cap cases use a lowered cap, so the suite stays small.
"""

from __future__ import annotations

import functools
import random

import pytest
from conftest import zlib_stream, zstd_stream

from birbctl.errors import DecodeError, InflateError
from birbctl.protocol.wire import Compression
from birbctl.transport.inflate import DEFAULT_MAX_MESSAGE, make_inflater
from birbctl.transport.raw import raw_messages

MODES = ["identity", "zlib-stream", "zstd-stream", "zstd-frame-per-message"]
SIZES = [1, 2, 255, 4096, 65536, 1 << 20, 16 << 20]
CAP = 3 << 20  # the lowered cap of the at/over-cap cases
FRAME = 64 * 1024  # how a big message arrives: many websocket-sized frames

_LETTERS = bytes.maketrans(bytes(range(256)), (b"abcdefghijklmnop" * 16))


@functools.cache
def message(size: int) -> bytes:
    """A JSON document of exactly `size` bytes: random text (4 bits a byte) within 32 KiB,
    repeating past it, so zlib compresses 16 MiB in a blink yet every block differs."""
    if size <= 2:
        return b"7" if size == 1 else b'""'
    rng = random.Random(size)
    base = rng.randbytes(min(size - 2, 24 * 1024)).translate(_LETTERS)
    body = (base * ((size - 2) // len(base) + 1))[: size - 2]
    return b'"' + body + b'"'


def frames_for(mode: str, messages: list[bytes]) -> list[bytes]:
    if mode == "identity":
        return list(messages)
    if mode == "zlib-stream":
        return zlib_stream(messages)
    return zstd_stream(messages, frame_per_message=mode == "zstd-frame-per-message")


def compress_of(mode: str) -> Compression:
    if mode == "identity":
        return Compression.NONE
    return Compression.ZLIB_STREAM if mode == "zlib-stream" else Compression.ZSTD_STREAM


def live(mode: str, frames: list[bytes], cap: int, *, split: int | None) -> list[bytes]:
    """Feed each frame whole (split None) or cut into `split`-byte frames."""
    inflater = make_inflater(compress_of(mode), max_size=cap)
    out = []
    for frame in frames:
        pieces = [frame] if split is None or mode == "identity" else _cut(frame, split)
        for piece in pieces:
            message = inflater.feed(piece)
            if message is not None:
                out.append(message)
    assert inflater.pending() == 0
    return out


def _cut(frame: bytes, size: int) -> list[bytes]:
    return [frame[at : at + size] for at in range(0, len(frame), size)] or [frame]


def raw(mode: str, frames: list[bytes], cap: int) -> list[bytes]:
    out = []
    for found in raw_messages(b"".join(frames), compress_of(mode), max_size=cap):
        assert found.error is None, found.error
        out.append(found.data)
    return out


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_one_message_of_each_size(mode: str, size: int) -> None:
    # Between two small messages, so the contexts carry state across the big one.
    messages = [message(2), message(size), message(3)]
    frames = frames_for(mode, messages)
    assert live(mode, frames, DEFAULT_MAX_MESSAGE, split=None) == messages
    assert live(mode, frames, DEFAULT_MAX_MESSAGE, split=FRAME) == messages
    if size <= 1 << 20:
        assert live(mode, frames, DEFAULT_MAX_MESSAGE, split=1 + size // 3) == messages
    if mode != "identity":
        assert raw(mode, frames, DEFAULT_MAX_MESSAGE) == messages


@pytest.mark.parametrize("mode", MODES)
def test_a_message_at_the_cap_decodes(mode: str) -> None:
    messages = [message(2), message(CAP), message(3)]
    frames = frames_for(mode, messages)
    assert live(mode, frames, CAP, split=None) == messages
    assert live(mode, frames, CAP, split=FRAME) == messages
    if mode != "identity":
        assert raw(mode, frames, CAP) == messages


@pytest.mark.parametrize("split", [None, FRAME])
@pytest.mark.parametrize("mode", MODES)
def test_one_byte_over_the_cap_is_a_clean_error(mode: str, split: int | None) -> None:
    messages = [message(2), message(CAP + 1)]
    frames = frames_for(mode, messages)
    with pytest.raises(InflateError, match=f"{CAP}-byte cap") as info:
        live(mode, frames, CAP, split=split)
    assert isinstance(info.value, DecodeError)
    assert str(info.value).count("\n") == 0


@pytest.mark.parametrize("mode", MODES[1:])
def test_one_byte_over_the_cap_in_a_raw_file(mode: str) -> None:
    frames = frames_for(mode, [message(2), message(CAP + 1)])
    with pytest.raises(InflateError, match=f"{CAP}-byte cap") as info:
        raw(mode, frames, CAP)
    # Where: the over-cap message starts after the first message's compressed bytes.
    assert info.value.offset == len(frames[0])
