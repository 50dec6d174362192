"""Inflating a big message costs a bounded number of passes over its bytes.

Not timed (the suite has no timed tests): the work is counted instead. A raw stream's
pieces used to be joined and decoded again after each zstd block, so a message of B
blocks was decoded B times over (quadratic); the live inflaters read each byte once.
"""

from __future__ import annotations

import itertools
import json
import random
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import twins, zlib_stream, zstd_stream

import birbctl.capture.sources as sources
import birbctl.codec.message as codec_message
from birbctl.capture.sources import iter_messages
from birbctl.codec.etf import encode_etf
from birbctl.errors import InflateError
from birbctl.transport import inflate
from birbctl.transport.inflate import (
    CZlibStreamInflater,
    CZstdStreamInflater,
    ZlibStreamInflater,
    ZstdStreamInflater,
    _zstd_module,
)
from birbctl.transport.raw import ZSTD_FULL_BLOCK, inflate_pieces, raw_messages


def guild_create(size: int, *, seed: int = 1, extra: str = "") -> dict[str, Any]:
    """A GUILD_CREATE of about `size` bytes of JSON: members with varying ids."""
    rng = random.Random(seed)
    members = [
        {
            "user": {"id": str(rng.getrandbits(60)), "username": f"user{i}{extra}"},
            "roles": [str(rng.getrandbits(60))],
            "joined_at": "2024-01-02T03:04:05.678000+00:00",
        }
        for i in range(size // 130)
    ]
    return {"op": 0, "t": "GUILD_CREATE", "s": seed, "d": {"id": "1", "members": members}}


def small(seq: int) -> bytes:
    return json.dumps({"op": 0, "t": "TYPING_START", "s": seq, "d": {"n": seq}}).encode()


class Counter:
    """Wraps decode_message, counting the bytes it is handed."""

    def __init__(self) -> None:
        self.bytes = 0
        self.calls = 0

    def __call__(self, data: Any, **kwargs: Any) -> Any:
        self.bytes += len(data)
        self.calls += 1
        return ORIGINAL_DECODE(data, **kwargs)


ORIGINAL_DECODE = codec_message.decode_message


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter:
    counter = Counter()
    monkeypatch.setattr(sources, "decode_message", counter)
    monkeypatch.setattr(codec_message, "decode_message", counter)
    return counter


@pytest.mark.parametrize("compress", ["zstd-stream", "zlib-stream"])
def test_decoding_a_raw_file_reads_each_byte_a_bounded_number_of_times(
    compress: str, counted: Counter, tmp_path: Path
) -> None:
    # A 4 MiB message is 32 zstd blocks: joining and decoding again after each one
    # hands the decoder about 16 times the message.
    messages = [small(1), json.dumps(guild_create(4 << 20)).encode(), small(3), small(4)]
    frames = zstd_stream(messages) if compress == "zstd-stream" else zlib_stream(messages)
    raw = tmp_path / "session.bin"
    raw.write_bytes(b"".join(frames))
    decoded = [m.payload for m in iter_messages(str(raw), compress)]
    assert decoded == [json.loads(m) for m in messages]
    total = sum(map(len, messages))
    # Today sources.py decodes each message raw_messages found once more: 2 passes.
    assert counted.bytes <= 3 * total, counted.bytes / total


def test_raw_messages_with_mid_message_cuts_stays_linear() -> None:
    """A server that flushes every 64 KiB inside a message makes every cut look like a
    message end: tries are spaced so the decoder still sees each byte a few times."""
    messages = [json.dumps(guild_create(4 << 20, seed=s)).encode() for s in (1, 2)]
    compressor = zlib.compressobj()
    data = b""
    for message in messages:
        for at in range(0, len(message), 64 * 1024):
            data += compressor.compress(message[at : at + 64 * 1024])
            data += compressor.flush(zlib.Z_SYNC_FLUSH)
    sizes: list[int] = []

    def decode(view: Any) -> Any:
        sizes.append(len(view))
        return codec_message.decode_message(view)

    out = list(raw_messages(data, "zlib-stream", max_size=64 << 20, decode=decode))
    assert [m.data for m in out] == messages
    assert all(m.error is None for m in out)
    assert sum(sizes) <= 6 * sum(map(len, messages)), sum(sizes) / sum(map(len, messages))
    assert len(sizes) <= 40  # about log2(64 pieces) tries a message, not 64


def exact_blocks(blocks: int, kind: str) -> bytes:
    """A message of exactly `blocks` full zstd blocks; the padding goes first, so that
    zstd's block splitter sees uniform member data at the end and cuts full blocks."""
    body = guild_create(blocks * ZSTD_FULL_BLOCK * 4 // 5, extra="é" if kind == "json-utf8" else "")
    body["d"] = {"pad": "", **body["d"]}

    def encode(value: Any) -> bytes:
        if kind == "etf":
            return encode_etf(value, style="server")
        return json.dumps(value, ensure_ascii=False).encode()

    body["d"]["pad"] = "p" * (blocks * ZSTD_FULL_BLOCK - len(encode(body)))
    return encode(body)


@pytest.mark.parametrize("kind", ["json", "json-utf8", "etf"])
@pytest.mark.parametrize("frame_per_message", [False, True])
def test_message_ending_on_a_full_zstd_block_is_found(kind: str, frame_per_message: bool) -> None:
    """A message of exactly k full zstd blocks ends where no decode is tried; the next
    try fails with trailing bytes right there, and the message is split off."""
    first = exact_blocks(3, kind)
    second = encode_etf({"op": 11}, style="server") if kind == "etf" else small(2)
    data = b"".join(zstd_stream([first, second, first], frame_per_message=frame_per_message))
    pieces = [len(piece) for _, _, piece in inflate_pieces(data, "zstd-stream", max_size=1 << 30)]
    assert pieces[:4] == [ZSTD_FULL_BLOCK] * 3 + [len(second)]  # the case under test
    out = list(raw_messages(data, "zstd-stream", max_size=64 << 20))
    assert [m.data for m in out] == [first, second, first]
    assert all(m.error is None for m in out)
    assert out[0].start == 0 and out[-1].end == len(data)
    assert all(a.end == b.start for a, b in itertools.pairwise(out))


def test_messages_before_a_broken_tail_come_out_first() -> None:
    """A message on full blocks waits for a later try; a stream that breaks right after
    it still yields it before the InflateError."""
    first = exact_blocks(2, "json")
    frames = zstd_stream([small(1), first, small(3)])
    data = frames[0] + frames[1] + frames[2][:-3]
    seen = []
    with pytest.raises(InflateError, match="stream ends inside a message"):
        for found in raw_messages(data, "zstd-stream", max_size=64 << 20):
            seen.append(found.data)
    assert seen == [small(1), first]


class _CountingModule:
    """The zstd module with a decompressor that counts the bytes it is handed."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.ZstdError = real.ZstdError
        self.fed = 0

    def ZstdDecompressor(self) -> Any:
        module, inner = self, self.real.ZstdDecompressor()

        class Counted:
            def decompress(self, data: bytes, max_length: int = -1) -> bytes:
                module.fed += len(data)
                out: bytes = inner.decompress(data, max_length)
                return out

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Counted()


@twins("make", ZstdStreamInflater, CZstdStreamInflater, built=CZstdStreamInflater is not None)
def test_live_zstd_reads_each_byte_once(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    message = json.dumps(guild_create(4 << 20)).encode()
    [frame] = zstd_stream([message])
    scanned = 0
    real_feed = inflate._ZstdBlockTracker.feed

    def feed(self: Any, data: Any) -> None:
        nonlocal scanned
        scanned += len(data)
        real_feed(self, data)

    monkeypatch.setattr(inflate._ZstdBlockTracker, "feed", feed)
    module = _CountingModule(_zstd_module())
    inflater = make(inflate.DEFAULT_MAX_MESSAGE, zstd=module)
    out = None
    for at in range(0, len(frame), 4096):  # small frames: the worst case for rescans
        out = inflater.feed(frame[at : at + 4096]) or out
    assert out == message
    # The C twin walks the headers in C, where nothing is counted: each byte once, as
    # its walker only moves forward (the twins' tests check it follows the same headers).
    assert scanned == (len(frame) if make is ZstdStreamInflater else 0)
    assert module.fed == len(frame)


@twins("make", ZlibStreamInflater, CZlibStreamInflater, built=CZlibStreamInflater is not None)
def test_live_zlib_inflates_each_byte_once(make: Any) -> None:
    message = json.dumps(guild_create(4 << 20)).encode()
    frames = zlib_stream([small(1), message, small(3)])
    real = zlib.decompressobj()
    fed = 0

    class Counted:
        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            nonlocal fed
            fed += len(data)
            return real.decompress(data, max_length)

    inflater = make(inflate.DEFAULT_MAX_MESSAGE, inflate=Counted())
    out = [
        m
        for frame in frames
        for at in range(0, len(frame), 4096)
        if (m := inflater.feed(frame[at : at + 4096])) is not None
    ]
    assert out == [small(1), message, small(3)]
    assert fed == sum(map(len, frames))
