"""The receive path's C twins (_receive_c.c) against the Python rules they stand in for,
on the same frames: real sessions, random splits, mutations and small caps. Every frame
must give the same message or payload, or the same error with the same text and
location, and leave the same bytes pending."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from fuzzkit import examples, mutate, mutated_sessions, split_randomly
from fuzzseeds import gateway_messages, zlib_sessions

from birbctl.codec import packets
from birbctl.codec.etf import encode_etf
from birbctl.codec.json import decode_json
from birbctl.errors import DecodeError
from birbctl.protocol.wire import Compression, Encoding
from birbctl.transport import receive
from birbctl.transport.deflate import ZlibStreamDeflater
from birbctl.transport.inflate import CZlibStreamInflater, Inflater, ZlibStreamInflater

pytestmark = pytest.mark.skipif(
    CZlibStreamInflater is None or receive.CFrameReader is None,
    reason="the C receive path was not built (no C compiler at install): nothing to compare",
)

Outcome = tuple[Any, ...]


def _error(exc: BaseException) -> Outcome:
    where = (exc.frame, exc.offset) if isinstance(exc, DecodeError) else ()
    return ("error", type(exc).__name__, str(exc), *where)


def inflate_outcomes(inflater: Inflater, frames: Sequence[bytes]) -> list[Outcome]:
    """What each frame gives, and what stays pending after it. Errors do not stop it
    and any exception counts: the twins must also agree on a broken context (one broken
    by a zstd cap error may go on to raise the zstd module's own EOFError)."""
    out: list[Outcome] = []
    for frame in frames:
        try:
            out.append(("message", inflater.feed(frame), inflater.pending()))
        except Exception as exc:
            out.append((*_error(exc), inflater.pending()))
    return out


def python_zlib(max_size: int) -> Inflater:
    return ZlibStreamInflater(max_size)


def c_zlib(max_size: int) -> Inflater:
    assert CZlibStreamInflater is not None
    return CZlibStreamInflater(max_size)


def assert_twins_inflate_alike(frames: Sequence[bytes], max_size: int) -> None:
    expected = inflate_outcomes(python_zlib(max_size), frames)
    assert inflate_outcomes(c_zlib(max_size), frames) == expected


CAPS = (128 * 1024 * 1024, 4096, 300, 40, 0)


@pytest.mark.parametrize("max_size", CAPS)
def test_real_sessions_and_random_splits(max_size: int) -> None:
    rng = random.Random(f"twins:splits:{max_size}")
    for session in zlib_sessions():
        assert_twins_inflate_alike(session, max_size)
        for _ in range(examples(30)):
            assert_twins_inflate_alike(split_randomly(b"".join(session), rng), max_size)


@pytest.mark.parametrize("max_size", CAPS)
def test_mutated_sessions(max_size: int) -> None:
    rng = random.Random(f"twins:mutate:{max_size}")
    for frames in mutated_sessions(zlib_sessions(), examples(60), rng):
        assert_twins_inflate_alike(frames, max_size)


def test_frames_of_any_bytes_like_type() -> None:
    """bytearray and memoryview frames inflate as bytes do (the relay may hand either)."""
    session = zlib_sessions()[-1]
    expected = inflate_outcomes(c_zlib(1 << 20), session)
    for kind in (bytearray, memoryview):
        frames = [kind(f) for f in session]
        assert inflate_outcomes(c_zlib(1 << 20), frames) == expected  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c_zlib(1 << 20).feed("text")  # type: ignore[arg-type]


def test_bounds_are_refused_as_python_refuses_them() -> None:
    assert CZlibStreamInflater is not None
    with pytest.raises(ValueError):
        CZlibStreamInflater(-1)
    with pytest.raises(TypeError):
        CZlibStreamInflater("big")  # type: ignore[arg-type]


# --- FrameReader: inflate + decode, errors placed at their frame ------------------------


def reader_outcomes(
    make: Callable[..., Any], inflater: Inflater, encoding: Encoding, frames: Sequence[Any]
) -> list[Outcome]:
    reader = make(
        inflater.feed,
        packets.message_decoder(encoding),
        decode_json,
        packets.LOCATED,
        packets.locate,
    )
    out: list[Outcome] = []
    for i, frame in enumerate(frames):
        feed = reader.feed_kept if i % 2 else reader.feed
        try:
            out.append(("payload", feed(frame)))
        except Exception as exc:
            out.append(_error(exc))
        out.append((reader.frames, reader.received_bytes, reader.inflated_bytes))
        out.append(reader.last_message)
    return out


def assert_readers_alike(encoding: Encoding, frames: Sequence[Any], max_size: int) -> None:
    assert receive.CFrameReader is not None
    expected = reader_outcomes(receive.FrameReader, python_zlib(max_size), encoding, frames)
    got = reader_outcomes(receive.CFrameReader, c_zlib(max_size), encoding, frames)
    assert repr(got) == repr(expected)  # repr: a mutated ETF float may be NaN


#: Text frames, good and bad JSON, with non-ASCII (counted as UTF-8) and a lone surrogate.
TEXT_FRAMES = ['{"op": 11, "d": null}', '{"op": 11, "d": nul', "[1, 2", '["é☃🐦"]', '["\ud83d"]']


def _frames(encoding: Encoding, rng: random.Random) -> list[Any]:
    """A connection's frames: deflated messages, some of them broken before deflating
    (bad JSON or ETF), some split, with text frames (good and bad JSON) among them."""
    messages = list(gateway_messages())
    if encoding is Encoding.ETF:
        messages = [encode_etf(orjson.loads(m), style="server") for m in messages]
    deflater = ZlibStreamDeflater()
    frames: list[Any] = []
    for message in messages:
        if rng.random() < 0.3:
            message = mutate(message, rng)
        frame = deflater.frame(message)
        if rng.random() < 0.3:
            frames.extend(split_randomly(frame, rng))
        else:
            frames.append(frame)
        if rng.random() < 0.2:
            frames.append(rng.choice(TEXT_FRAMES))
    return frames


@pytest.mark.parametrize("encoding", [Encoding.JSON, Encoding.ETF])
def test_readers_agree_on_payloads_and_located_errors(encoding: Encoding) -> None:
    rng = random.Random(f"twins:reader:{encoding}")
    for _ in range(examples(40)):
        frames = _frames(encoding, rng)
        assert_readers_alike(encoding, frames, 1 << 20)
        if rng.random() < 0.5:  # then a corrupt stream, inflate errors included
            i = rng.randrange(len(frames))
            if isinstance(frames[i], bytes):
                frames[i] = mutate(frames[i], rng)
            assert_readers_alike(encoding, frames, 300)


def test_packet_reader_uses_the_c_twins() -> None:
    reader = packets.PacketReader(Encoding.JSON, Compression.ZLIB_STREAM)
    assert isinstance(reader.inflater, CZlibStreamInflater)  # type: ignore[arg-type]
    assert reader.frames == 0
    assert reader.feed(ZlibStreamDeflater().frame(b'{"op": 11}')) == {"op": 11}
    assert reader.frames == 1


def test_unexpected_errors_pass_unchanged() -> None:
    """Only DecodeError and JSON errors are placed at the frame: a bug stays a bug."""
    assert receive.CFrameReader is not None

    def broken(message: bytes) -> Any:
        raise KeyError("bug")

    for make in (receive.FrameReader, receive.CFrameReader):
        reader = make(bytes, broken, decode_json, packets.LOCATED, packets.locate)
        with pytest.raises(KeyError, match="bug"):
            reader.feed(b"x")
        with pytest.raises(DecodeError, match="frame 2"):
            reader.feed("{")


def test_works_without_the_c_extension() -> None:
    """A machine without a compiler gets the Python rules, with the same results."""
    code = (
        "import sys; sys.modules['birbctl.transport._receive_c'] = None\n"
        "from birbctl.codec.packets import PacketReader\n"
        "from birbctl.transport import inflate, receive\n"
        "from birbctl.transport.deflate import ZlibStreamDeflater\n"
        "assert inflate.CZlibStreamInflater is None and receive.CFrameReader is None\n"
        "r = PacketReader('json', 'zlib-stream')\n"
        "assert type(r.inflater) is inflate.ZlibStreamInflater\n"
        "assert type(r._frames) is receive.FrameReader\n"
        "assert r.feed(ZlibStreamDeflater().frame(b'[1]')) == [1]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
