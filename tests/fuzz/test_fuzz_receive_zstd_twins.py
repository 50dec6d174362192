"""The C zstd-stream inflater (_receive_c.c) against the Python rule it stands in for
(ZstdStreamInflater and its _ZstdBlockTracker, inflate.py), on the same frames: real and
generated sessions (one zstd frame for the whole stream, and a zstd frame per message),
every split of the small ones, random splits, mutations, hand-built streams that take
every frame-header form, skippable frames, checksums and small caps. Every frame must
give the same message, or the same error with the same text and offset, and leave the
same bytes pending."""

from __future__ import annotations

import gc
import random
import subprocess
import sys
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pytest
from fuzzkit import examples, mutate, mutated_sessions, split_randomly
from fuzzseeds import gateway_messages, zstd_sessions
from test_fuzz_receive_twins import Outcome, inflate_outcomes, reader_outcomes

from birbctl.codec import packets
from birbctl.errors import InflateError
from birbctl.protocol.wire import Compression, Encoding
from birbctl.transport import receive
from birbctl.transport.deflate import ZstdStreamDeflater
from birbctl.transport.inflate import (
    CZstdStreamInflater,
    Inflater,
    ZstdStreamInflater,
    _zstd_module,
    make_inflater,
    zstd_stream_inflater,
)

pytestmark = pytest.mark.skipif(
    CZstdStreamInflater is None,
    reason="the C receive path was not built (no C compiler at install): nothing to compare",
)

CAPS = (128 * 1024 * 1024, 4096, 300, 40, 0)
MAGIC = (0xFD2FB528).to_bytes(4, "little")


def python_zstd(max_size: int) -> Inflater:
    return ZstdStreamInflater(max_size)


def c_zstd(max_size: int) -> Inflater:
    assert CZstdStreamInflater is not None
    return CZstdStreamInflater(max_size)


def assert_twins_inflate_alike(frames: Sequence[bytes], max_size: int) -> list[Outcome]:
    expected = inflate_outcomes(python_zstd(max_size), frames)
    assert inflate_outcomes(c_zstd(max_size), frames) == expected
    return expected


def messages_of(results: list[Outcome]) -> list[bytes]:
    return [r[1] for r in results if r[0] == "message" and r[1] is not None]


# --- streams ------------------------------------------------------------------------------


def skippable(nibble: int, payload: bytes) -> bytes:
    """A skippable frame (magic 0x184D2A50..5F): decoders pass over its payload."""
    size = len(payload).to_bytes(4, "little")
    return (0x184D2A50 | nibble).to_bytes(4, "little") + size + payload


def checksummed_session(frame_per_message: bool) -> tuple[bytes, ...]:
    """A session whose zstd frames end with a content checksum."""
    zstd = _zstd_module()
    compressor = zstd.ZstdCompressor(options={zstd.CompressionParameter.checksum_flag: 1})
    mode = zstd.ZstdCompressor.FLUSH_FRAME if frame_per_message else zstd.ZstdCompressor.FLUSH_BLOCK
    return tuple(compressor.compress(m, mode=mode) for m in gateway_messages()[:6])


def skippable_session(rng: random.Random) -> tuple[tuple[bytes, ...], list[bytes]]:
    """A zstd frame per message, with skippable frames before and between them: as
    frames of their own, or glued to a message's frame. Returns (frames, messages)."""
    messages = list(gateway_messages()[:6])
    deflater = ZstdStreamDeflater(frame_per_message=True)
    frames: list[bytes] = []
    for message in messages:
        skip = skippable(rng.randrange(16), rng.randbytes(rng.choice((0, 1, 7, 300))))
        frame = deflater.frame(message)
        where = rng.randrange(3)
        if where == 0:
            frames.extend([skip, frame])
        else:
            frames.append(skip + frame if where == 1 else frame + skip)
    return tuple(frames), messages


def sessions() -> Iterator[tuple[bytes, ...]]:
    """The real and generated sessions, with checksummed and skippable ones."""
    yield from zstd_sessions()
    yield checksummed_session(False)
    yield checksummed_session(True)
    rng = random.Random("zstd-twins:skippable")
    for _ in range(3):
        yield skippable_session(rng)[0]


def _fcs(size: int, rng: random.Random) -> tuple[int, bytes]:
    """A frame content size field of 2, 4 or 8 bytes that holds `size`: (flag, field)."""
    options = [(2, size.to_bytes(4, "little")), (3, size.to_bytes(8, "little"))]
    if 256 <= size <= 65791:  # the 2-byte field holds size - 256
        options.append((1, (size - 256).to_bytes(2, "little")))
    return rng.choice(options)


def hand_frame_header(content: int | None, rng: random.Random) -> bytes:
    """Magic and a frame header of a random form: with or without a window descriptor,
    a dictionary id of 0, 1, 2 or 4 bytes (value 0: none), a content size of 0, 1, 2, 4
    or 8 bytes. `content`: the frame's size, or None while it is not known."""
    dictionary = rng.randrange(4)
    fields = bytes((0, 1, 2, 4)[dictionary])
    fcs_flag, single = 0, 0
    if content is not None and rng.random() < 0.7:
        if content < 256 and rng.random() < 0.5:  # single segment: 1-byte content size
            single, fcs = 1, bytes([content])
        else:
            fcs_flag, fcs = _fcs(content, rng)
            single = int(rng.random() < 0.5)
        fields += fcs
    fhd = fcs_flag << 6 | single << 5 | dictionary
    window = b"" if single else bytes([rng.choice((0x00, 0x08, 0x58))])  # 1 KiB at least
    return MAGIC + bytes([fhd]) + window + fields


def hand_blocks(message: bytes, rng: random.Random, *, last: bool) -> bytes:
    """A message as raw and RLE blocks of at most 300 bytes (under any window here)."""
    out = b""
    at = 0
    while True:
        size = min(rng.randint(0, 300), len(message) - at)
        piece = message[at : at + size]
        at += size
        end = int(last and at == len(message))
        if size and piece == piece[:1] * size:
            out += (size << 3 | 1 << 1 | end).to_bytes(3, "little") + piece[:1]
        else:
            out += (size << 3 | end).to_bytes(3, "little") + piece
        if at == len(message):
            return out


def hand_built_session(rng: random.Random) -> tuple[list[bytes], list[bytes]]:
    """zstd frames built by hand, one WebSocket frame per message: several messages to a
    zstd frame or one each, skippable frames between zstd frames. (frames, messages)"""
    messages = [
        rng.choice((b"a" * rng.randint(1, 700), rng.randbytes(rng.randint(1, 900)), b"{}"))
        for _ in range(rng.randint(1, 5))
    ]
    frames: list[bytes] = []
    i = 0
    while i < len(messages):
        group = messages[i : i + rng.randint(1, 3)]
        i += len(group)
        prefix = skippable(rng.randrange(16), rng.randbytes(3)) if rng.random() < 0.3 else b""
        header = hand_frame_header(sum(map(len, group)), rng)
        for k, message in enumerate(group):
            blocks = hand_blocks(message, rng, last=k == len(group) - 1)
            frames.append((prefix + header if k == 0 else b"") + blocks)
    return frames, messages


# --- the differential tests ----------------------------------------------------------------


@pytest.mark.parametrize("max_size", CAPS)
def test_real_sessions_and_random_splits(max_size: int) -> None:
    rng = random.Random(f"zstd-twins:splits:{max_size}")
    for session in sessions():
        whole = assert_twins_inflate_alike(session, max_size)
        if max_size == CAPS[0]:
            assert messages_of(whole), "a session that gives nothing tests nothing"
        for _ in range(examples(30)):
            assert_twins_inflate_alike(split_randomly(b"".join(session), rng), max_size)


@pytest.mark.parametrize("max_size", [CAPS[0], 40])
def test_every_split_of_small_sessions(max_size: int) -> None:
    """Each frame cut in two at every byte, and the whole stream cut once at every
    byte and fed a byte a frame: headers cut everywhere, at every stage."""
    for session in sessions():
        stream = b"".join(session)
        if len(stream) > 2000:
            continue
        for index, frame in enumerate(session):
            for cut in range(1, len(frame)):
                variant = [*session[:index], frame[:cut], frame[cut:], *session[index + 1 :]]
                assert_twins_inflate_alike(variant, max_size)
        for cut in range(1, len(stream)):
            assert_twins_inflate_alike([stream[:cut], stream[cut:]], max_size)
        assert_twins_inflate_alike([stream[i : i + 1] for i in range(len(stream))], max_size)


@pytest.mark.parametrize("max_size", CAPS)
def test_mutated_sessions(max_size: int) -> None:
    rng = random.Random(f"zstd-twins:mutate:{max_size}")
    for frames in mutated_sessions(list(sessions()), examples(60), rng):
        assert_twins_inflate_alike(frames, max_size)


@pytest.mark.parametrize("max_size", CAPS)
def test_hand_built_streams_of_every_header_form(max_size: int) -> None:
    """Raw and RLE blocks under every frame-header form, several messages to a zstd
    frame or one each: whole, split, a byte a frame, mutated."""
    rng = random.Random(f"zstd-twins:hand:{max_size}")
    for _ in range(examples(60)):
        frames, messages = hand_built_session(rng)
        got = assert_twins_inflate_alike(frames, max_size)
        if max_size == CAPS[0]:  # the builder makes valid streams: the rule decodes them
            assert messages_of(got) == messages
        stream = b"".join(frames)
        assert_twins_inflate_alike(split_randomly(stream, rng), max_size)
        assert_twins_inflate_alike(split_randomly(mutate(stream, rng), rng), max_size)
        if len(stream) < 400:
            assert_twins_inflate_alike([stream[i : i + 1] for i in range(len(stream))], max_size)


def test_every_frame_header_descriptor() -> None:
    """All 256 descriptor bytes after a good magic, then random bytes: whatever the
    header walker makes of them, the twins make the same."""
    rng = random.Random("zstd-twins:fhd")
    for fhd in range(256):
        for _ in range(examples(4)):
            stream = MAGIC + bytes([fhd]) + rng.randbytes(rng.randint(0, 40))
            for max_size in (CAPS[0], 40):
                assert_twins_inflate_alike(split_randomly(stream, rng), max_size)


def test_skippable_frames_between_messages() -> None:
    rng = random.Random("zstd-twins:skippable-messages")
    for _ in range(examples(20)):
        frames, messages = skippable_session(rng)
        assert messages_of(assert_twins_inflate_alike(frames, CAPS[0])) == messages
        for max_size in CAPS[1:]:
            assert_twins_inflate_alike(frames, max_size)
    # A skippable frame's size is a 32-bit count: 4 GiB - 1 to pass over, cut short.
    huge = (0x184D2A5F).to_bytes(4, "little") + b"\xff\xff\xff\xff" + b"x" * 100
    assert_twins_inflate_alike([huge, b"y" * 1000, MAGIC], 1 << 20)
    assert_twins_inflate_alike([huge, b"y" * 1000, MAGIC], 500)


@pytest.mark.parametrize("frame_per_message", [False, True])
def test_checksums(frame_per_message: bool) -> None:
    session = checksummed_session(frame_per_message)
    got = assert_twins_inflate_alike(session, CAPS[0])
    assert messages_of(got) == list(gateway_messages()[:6])
    if frame_per_message:  # a wrong checksum is the zstd module's error, told alike
        frames = list(session)
        frames[2] = frames[2][:-1] + bytes([frames[2][-1] ^ 0x55])
        got = assert_twins_inflate_alike(frames, CAPS[0])
        assert got[2][:2] == ("error", "InflateError")


def test_big_messages_across_frames_and_blocks_at_the_cap() -> None:
    """Messages of many 128 KiB blocks fed in 4 KiB frames, with caps around their size
    (at the cap, one byte under it, and a cap that ends mid-message)."""
    rng = random.Random("zstd-twins:big")
    big = orjson.dumps([{"id": str(rng.getrandbits(60)), "n": i} for i in range(20_000)])
    small = gateway_messages()[1]
    for frame_per_message in (False, True):
        deflater = ZstdStreamDeflater(frame_per_message=frame_per_message)
        stream = b"".join(deflater.frame(m) for m in (small, big, small, big))
        frames = [stream[at : at + 4096] for at in range(0, len(stream), 4096)]
        for max_size in (len(big), len(big) - 1, len(big) // 2, len(stream) - 1):
            assert_twins_inflate_alike(frames, max_size)


def test_header_errors_say_where_as_python_does() -> None:
    """The walker's own errors (bad magic, reserved block type) have the Python
    tracker's text and offsets, which are positions in the stream."""
    first = ZstdStreamDeflater().frame(b'{"op": 11}')  # then the walker is at a block header
    cases = {
        "bad magic": [b"hello world, not zstd"],
        "bad magic across frames": [b"he", b"llo world", first],
        "bad magic after a frame": [ZstdStreamDeflater(frame_per_message=True).frame(b"1") + b"no"],
        "reserved block, whole header": [first, b"\x07\x00\x00" + b"x" * 9],
        "reserved block after blocks": [first, b"\x10\x00\x00ab\x06\x00\x00"],
        "reserved block, header cut": [first, b"\x07", b"\x00\x00", b""],
        "reserved last block": [first, b"\x0f\x00\x00"],
    }
    for name, frames in cases.items():
        got = assert_twins_inflate_alike(frames, CAPS[0])
        errors = [r for r in got if r[0] == "error"]
        assert errors, name
        assert errors[0][1] == "InflateError", (name, errors)
    # (text, frame, offset): offsets count from the start of the stream, so a magic
    # begun in the frame before is found where it began.
    got = assert_twins_inflate_alike(cases["bad magic across frames"], CAPS[0])
    assert got[1][2:5] == ("byte 0: not a zstd frame (magic 0x6c6c6568)", None, 0)
    got = assert_twins_inflate_alike(cases["reserved block after blocks"], CAPS[0])
    at = len(first) + 5
    assert got[1][2:5] == (f"byte {at}: corrupt zstd-stream: reserved block type", None, at)


def test_frames_of_any_bytes_like_type() -> None:
    """bytearray and memoryview frames (slices of a bigger buffer too) inflate as bytes
    do (the relay may hand either); text is refused by both."""
    for session in sessions():
        stream = b"".join(session)
        expected = inflate_outcomes(c_zstd(1 << 20), session)
        padded = memoryview(b"#" + stream + b"#")
        views: list[Any] = []
        at = 1
        for frame in session:
            views.append(padded[at : at + len(frame)])
            at += len(frame)
        for frames in ([bytearray(f) for f in session], [memoryview(f) for f in session], views):
            assert inflate_outcomes(python_zstd(1 << 20), frames) == expected
            assert inflate_outcomes(c_zstd(1 << 20), frames) == expected
    for make in (python_zstd, c_zstd):
        with pytest.raises(TypeError):
            make(1 << 20).feed("text")  # type: ignore[arg-type]


class _Recording:
    """The zstd module, with decompressors that note every call (data, max_length)."""

    def __init__(self) -> None:
        self.real = _zstd_module()
        self.ZstdError = self.real.ZstdError
        self.calls: list[tuple[bytes, int]] = []
        self.made = 0

    def ZstdDecompressor(self) -> Any:
        module, inner = self, self.real.ZstdDecompressor()
        module.made += 1

        class Recorded:
            def decompress(self, data: bytes, max_length: int = -1) -> bytes:
                module.calls.append((bytes(data), max_length))
                out: bytes = inner.decompress(data, max_length)
                return out

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Recorded()


def test_the_zstd_module_sees_the_same_calls() -> None:
    """Through `zstd=`: the same chunks, with the same output bounds, to the same
    number of decompressors (a new one past the end of each zstd frame)."""
    assert CZstdStreamInflater is not None
    rng = random.Random("zstd-twins:calls")
    for session in sessions():
        for max_size in CAPS:
            frames = split_randomly(b"".join(session), rng)
            recorded = []
            for make in (ZstdStreamInflater, CZstdStreamInflater):
                module = _Recording()
                result = inflate_outcomes(make(max_size, zstd=module), frames)
                recorded.append((result, module.calls, module.made))
            assert recorded[0] == recorded[1]


def test_bounds_are_refused_as_the_zlib_twin_refuses_them() -> None:
    assert CZstdStreamInflater is not None
    for bad in (-1, sys.maxsize):
        with pytest.raises(ValueError):
            CZstdStreamInflater(bad)
    with pytest.raises(TypeError):
        CZstdStreamInflater("big")  # type: ignore[arg-type]
    assert CZstdStreamInflater.compress is Compression.ZSTD_STREAM


def test_a_cycle_through_the_zstd_module_is_collected() -> None:
    """tp_traverse reaches what the inflater holds: a cycle through it is freed."""
    assert CZstdStreamInflater is not None

    class Module:
        ZstdError = _zstd_module().ZstdError

        def ZstdDecompressor(self) -> Any:
            return _zstd_module().ZstdDecompressor()

    module = Module()
    inflater = CZstdStreamInflater(100, zstd=module)
    module.inflater = inflater  # type: ignore[attr-defined]
    gone = weakref.ref(module)
    del module, inflater
    gc.collect()
    assert gone() is None


# --- with FrameReader, and where the twins are handed out ---------------------------------


def test_readers_agree_on_zstd_frames() -> None:
    """Payloads and located errors alike, with both C twins against both Python rules:
    messages broken before compressing, frames split, broken after, text frames."""
    assert receive.CFrameReader is not None
    rng = random.Random("zstd-twins:reader")
    for _ in range(examples(40)):
        deflater = ZstdStreamDeflater(frame_per_message=rng.random() < 0.5)
        frames: list[Any] = []
        for message in gateway_messages():
            if rng.random() < 0.3:
                message = mutate(message, rng)
            frame = deflater.frame(message)
            frames.extend(split_randomly(frame, rng) if rng.random() < 0.3 else [frame])
            if rng.random() < 0.2:
                frames.append(rng.choice(['{"op": 11, "d": null}', "[1, 2"]))
        for max_size in (1 << 20, 300):
            if max_size == 300 and rng.random() < 0.5:
                i = rng.randrange(len(frames))
                if isinstance(frames[i], bytes):
                    frames[i] = mutate(frames[i], rng)
            python = python_zstd(max_size)
            expected = reader_outcomes(receive.FrameReader, python, Encoding.JSON, frames)
            got = reader_outcomes(receive.CFrameReader, c_zstd(max_size), Encoding.JSON, frames)
            assert repr(got) == repr(expected)


def test_the_factories_hand_out_the_c_twin() -> None:
    assert isinstance(make_inflater(Compression.ZSTD_STREAM), CZstdStreamInflater)  # type: ignore[arg-type]
    assert isinstance(zstd_stream_inflater(1000), CZstdStreamInflater)  # type: ignore[arg-type]
    reader = packets.PacketReader(Encoding.JSON, Compression.ZSTD_STREAM)
    assert isinstance(reader.inflater, CZstdStreamInflater)  # type: ignore[arg-type]
    assert reader.feed(ZstdStreamDeflater().frame(b'{"op": 11}')) == {"op": 11}
    with pytest.raises(InflateError, match="frame 1:byte 0: not a zstd frame"):
        packets.PacketReader(Encoding.JSON, Compression.ZSTD_STREAM).feed(b"not zstd")


def test_works_without_the_zstd_module() -> None:
    """birbctl, the C module and the zlib twin import and work without any zstd module;
    only making a zstd-stream inflater (either twin) says it is missing."""
    code = (
        "import sys\n"
        "sys.modules['compression.zstd'] = sys.modules['backports.zstd'] = None\n"
        "from birbctl.codec.packets import PacketReader\n"
        "from birbctl.transport import inflate\n"
        "from birbctl.transport.deflate import ZlibStreamDeflater\n"
        "assert inflate.CZstdStreamInflater is not None\n"
        "r = PacketReader('json', 'zlib-stream')\n"
        "assert type(r.inflater) is inflate.CZlibStreamInflater\n"
        "assert r.feed(ZlibStreamDeflater().frame(b'[1]')) == [1]\n"
        "makers = (inflate.ZstdStreamInflater, inflate.CZstdStreamInflater,\n"
        "          lambda n: inflate.make_inflater('zstd-stream', max_size=n))\n"
        "for make in makers:\n"
        "    try:\n"
        "        make(1000)\n"
        "    except ImportError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError(make)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_works_without_the_c_extension() -> None:
    """A machine without a compiler gets the Python rule, with the same results."""
    code = (
        "import sys; sys.modules['birbctl.transport._receive_c'] = None\n"
        "from birbctl.codec.packets import PacketReader\n"
        "from birbctl.transport import inflate\n"
        "from birbctl.transport.deflate import ZstdStreamDeflater\n"
        "assert inflate.CZstdStreamInflater is None\n"
        "assert type(inflate.make_inflater('zstd-stream')) is inflate.ZstdStreamInflater\n"
        "r = PacketReader('json', 'zstd-stream')\n"
        "assert type(r.inflater) is inflate.ZstdStreamInflater\n"
        "assert r.feed(ZstdStreamDeflater().frame(b'[1]')) == [1]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
