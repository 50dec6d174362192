"""Transport decompression: one inflate context per connection, bounded output.

Discord compresses the whole connection as one stream (`compress=zlib-stream` or
`zstd-stream`), flushing after each message. Frames cannot be inflated on their own:
every frame of a connection goes through the same `Inflater`, in order. A message may
span frames, and a frame completes at most one message (it ends where the frame ends):
`feed()` returns that message, or None while a message is still incomplete.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from birbctl.errors import InflateError
from birbctl.protocol.wire import Compression

if TYPE_CHECKING:
    from birbctl.transport import _receive_c

#: Largest inflated message accepted by default. Discord's biggest payloads (GUILD_CREATE
#: of huge guilds) are tens of MiB; anything past this is a bomb or a broken stream.
DEFAULT_MAX_MESSAGE = 128 * 1024 * 1024

ZLIB_SUFFIX = b"\x00\x00\xff\xff"


class Inflater(Protocol):
    compress: Compression

    def feed(self, data: bytes) -> bytes | None:
        """Take one frame's bytes; return the message it completes, if any."""
        ...

    def pending(self) -> int:
        """Bytes received but not yet part of a completed message."""
        ...


class IdentityInflater:
    """No transport compression: every frame is one message."""

    compress = Compression.NONE

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE) -> None:
        self._max = max_size

    def feed(self, data: bytes) -> bytes | None:
        if len(data) > self._max:
            raise InflateError(f"message of {len(data)} bytes is over the {self._max}-byte cap")
        return data

    def pending(self) -> int:
        return 0


class ZlibStreamInflater:
    """zlib-stream: a message is complete when the bytes so far end with 00 00 ff ff.

    Inflates with a bound of cap + 1 bytes: one byte past the cap is the proof of a
    message over it, whatever zlib still holds back. `inflate` stands in for the
    connection's `zlib.decompressobj()` (tests count what goes through it).

    This is the rule in Python; `make_inflater` hands out its C twin when it was built
    (`CZlibStreamInflater`, from _receive_c.c), which does the same.
    """

    compress = Compression.ZLIB_STREAM
    __slots__ = ("_buffer", "_consumed", "_decompress", "_inflate", "_max")

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE, *, inflate: Any = None) -> None:
        self._inflate = zlib.decompressobj() if inflate is None else inflate
        self._decompress = self._inflate.decompress
        self._buffer = bytearray()
        self._max = max_size
        self._consumed = 0  # compressed bytes fed to completed messages, for error offsets

    def feed(self, data: bytes) -> bytes | None:
        buffer = self._buffer
        if not buffer and data.endswith(ZLIB_SUFFIX):
            # The usual case, kept inline for speed: one frame holds exactly one message.
            try:
                out: bytes = self._decompress(data, self._max + 1)
            except zlib.error as exc:
                raise InflateError(f"corrupt zlib-stream: {exc}", offset=self._consumed) from None
            if len(out) > self._max:
                self._over_cap()
            self._consumed += len(data)
            return out
        buffer += data
        if len(buffer) > self._max:
            raise InflateError(
                f"no end of message (00 00 ff ff) within {self._max} compressed bytes",
                offset=self._consumed,
            )
        if not buffer.endswith(ZLIB_SUFFIX):
            return None
        message = self._inflate_message(buffer)
        self._buffer = bytearray()
        return message

    def pending(self) -> int:
        return len(self._buffer)

    def _inflate_message(self, data: bytes | bytearray) -> bytes:
        try:
            out = self._inflate.decompress(data, self._max + 1)
        except zlib.error as exc:
            raise InflateError(f"corrupt zlib-stream: {exc}", offset=self._consumed) from None
        if len(out) > self._max:
            self._over_cap()
        self._consumed += len(data)
        return out

    def _over_cap(self) -> NoReturn:
        raise InflateError(f"message inflates past the {self._max}-byte cap", offset=self._consumed)


class _ZstdBlockTracker:
    """Follows zstd frame and block headers to know where blocks end.

    A zstd stream flushed after each message ends every message on a block boundary,
    so "all bytes so far end a block" is zstd's equivalent of zlib's 00 00 ff ff.
    Reads headers only; the decompressor does the real validation.
    """

    _MAGIC = 0xFD2FB528

    def __init__(self) -> None:
        self._header = bytearray()  # partial header bytes
        self._want = 4  # header bytes wanted by the current stage
        self._stage = "magic"  # magic | frame_header | block_header
        self._skip = 0  # payload bytes to pass over before the next header
        self._after_skip = "block_header"
        self._checksum = 0

    @property
    def at_boundary(self) -> bool:
        return not self._skip and not self._header and self._stage in ("magic", "block_header")

    def bytes_to_next_header(self) -> int:
        """How many bytes can be fed before anything but payload is read."""
        return self._skip or (self._want - len(self._header))

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        i, n = 0, len(data)
        if self._stage == "block_header" and not self._header:
            # The usual frame: whole block headers, each followed by its block. Read them
            # straight off the frame; anything else (a frame's last block, a header cut
            # between frames) goes on in the walker below from where this stopped.
            while i + 3 <= n:
                value = data[i] | data[i + 1] << 8 | data[i + 2] << 16
                if value & 1:
                    break  # the frame's last block: its checksum and the next magic
                kind = (value >> 1) & 3
                if kind == 3:
                    raise InflateError("corrupt zstd-stream: reserved block type", offset=i)
                i += 3 + (1 if kind == 1 else value >> 3)
            if i >= n:
                if i > n:  # the block goes on in the next frame
                    self._skip_then(i - n, "block_header")
                return
        view = memoryview(data)
        while i < n:
            if self._skip:
                step = min(self._skip, n - i)
                self._skip -= step
                i += step
                if not self._skip:
                    self._stage = self._after_skip
                    self._want = 4 if self._stage == "magic" else 3
                continue
            take = min(self._want - len(self._header), n - i)
            self._header += view[i : i + take]
            i += take
            if len(self._header) == self._want:
                self._advance(i)

    def _advance(self, position: int) -> None:
        header = bytes(self._header)
        self._header.clear()
        if self._stage == "magic":
            magic = int.from_bytes(header, "little")
            if magic == self._MAGIC:
                self._stage, self._want = "frame_header", 1
            elif magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame: 4-byte size, then data
                self._stage, self._want = "skippable", 4
            else:
                raise InflateError(f"not a zstd frame (magic {magic:#010x})", offset=position - 4)
        elif self._stage == "skippable":
            self._skip_then(int.from_bytes(header, "little"), "magic")
        elif self._stage == "frame_header":
            if len(header) == 1:
                fhd = header[0]
                fcs_flag, single = fhd >> 6, (fhd >> 5) & 1
                self._checksum = (fhd >> 2) & 1
                rest = (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
                rest += (1 if single else 0, 2, 4, 8)[fcs_flag]
                if rest:
                    self._want = 1 + rest
                    self._header += header
                    return
            self._stage, self._want = "block_header", 3
        elif self._stage == "block_header":
            value = int.from_bytes(header, "little")
            last, kind, size = value & 1, (value >> 1) & 3, value >> 3
            if kind == 3:
                raise InflateError("corrupt zstd-stream: reserved block type", offset=position - 3)
            content = 1 if kind == 1 else size
            if last:
                self._skip_then(content + 4 * self._checksum, "magic")
            else:
                self._skip_then(content, "block_header")

    def _skip_then(self, count: int, stage: str) -> None:
        self._after_skip = stage
        if count:
            self._skip = count
            self._stage = "skip"
        else:
            self._stage = stage
            self._want = 4 if stage == "magic" else 3


class ZstdStreamInflater:
    """zstd-stream: one decompression context per connection, each message flushed.

    Lenient: a server that ends the zstd frame after each message and starts a new one
    decodes the same way. `zstd` stands in for the zstd module (tests count what goes
    through its decompressors).

    This is the rule in Python; `make_inflater` hands out its C twin when it was built
    (`CZstdStreamInflater`, from _receive_c.c), which does the same.
    """

    compress = Compression.ZSTD_STREAM

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE, *, zstd: Any = None) -> None:
        self._zstd = _zstd_module() if zstd is None else zstd
        self._decompressor = self._zstd.ZstdDecompressor()
        self._tracker = _ZstdBlockTracker()
        self._out: list[bytes] = []
        self._out_size = 0
        self._in_size = 0
        self._max = max_size
        self._consumed = 0

    def feed(self, data: bytes) -> bytes | None:
        tracker = self._tracker
        try:
            tracker.feed(data)
        except InflateError as exc:  # the walker counts from this frame's first byte
            exc.offset = self._consumed + self._in_size + (exc.offset or 0)
            raise
        self._in_size += len(data)
        chunk = data
        while chunk:
            decompressor = self._decompressor
            try:
                out: bytes = decompressor.decompress(chunk, self._max - self._out_size + 1)
            except self._zstd.ZstdError as exc:
                raise InflateError(f"corrupt zstd-stream: {exc}", offset=self._consumed) from None
            if not decompressor.eof:
                if out and not self._out and tracker.at_boundary and len(out) <= self._max:
                    # The usual frame: one whole message, flushed. No list, no join.
                    self._consumed += self._in_size
                    self._in_size = 0
                    return out
                self._append(out)
                break
            self._append(out)
            chunk = decompressor.unused_data
            self._decompressor = self._zstd.ZstdDecompressor()
        if not tracker.at_boundary or not self._out:
            if self._in_size > self._max:
                raise InflateError(
                    f"no end of message within {self._max} compressed bytes",
                    offset=self._consumed,
                )
            return None
        message = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        self._out_size = 0
        self._consumed += self._in_size
        self._in_size = 0
        return message

    def pending(self) -> int:
        return self._in_size

    def _append(self, out: bytes) -> None:
        if out:
            self._out.append(out)
            self._out_size += len(out)
            if self._out_size > self._max:
                raise InflateError(
                    f"message inflates past the {self._max}-byte cap", offset=self._consumed
                )


def _zstd_module() -> Any:
    """compression.zstd on Python 3.14+, backports.zstd before (same API)."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
    return zstd


CZlibStreamInflater: type[_receive_c.ZlibStreamInflater] | None
CZstdStreamInflater: type[_receive_c.ZstdStreamInflater] | None
try:
    from birbctl.transport._receive_c import ZlibStreamInflater as CZlibStreamInflater
    from birbctl.transport._receive_c import ZstdStreamInflater as CZstdStreamInflater
except ImportError:  # built without a C compiler: the Python classes do the same work
    CZlibStreamInflater = CZstdStreamInflater = None


def zlib_stream_inflater(max_size: int = DEFAULT_MAX_MESSAGE) -> Inflater:
    """A connection's zlib-stream inflater: the C twin when it was built (the same
    results, errors and offsets, without a Python call per message)."""
    if CZlibStreamInflater is not None:
        return CZlibStreamInflater(max_size)
    return ZlibStreamInflater(max_size)


def zstd_stream_inflater(max_size: int = DEFAULT_MAX_MESSAGE) -> Inflater:
    """A connection's zstd-stream inflater: the C twin when it was built (the same
    results, errors and offsets, with the block headers walked in C)."""
    if CZstdStreamInflater is not None:
        return CZstdStreamInflater(max_size)
    return ZstdStreamInflater(max_size)


def make_inflater(compress: Compression, *, max_size: int = DEFAULT_MAX_MESSAGE) -> Inflater:
    """The inflater for a connection's transport compression."""
    if compress == Compression.NONE:
        return IdentityInflater(max_size)
    if compress == Compression.ZLIB_STREAM:
        return zlib_stream_inflater(max_size)
    if compress == Compression.ZSTD_STREAM:
        return zstd_stream_inflater(max_size)
    raise ValueError(f"unknown transport compression {compress!r}")
