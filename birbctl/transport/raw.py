"""Raw compressed streams saved without their websocket framing.

A file that holds a whole zlib-stream or zstd-stream has lost the frame boundaries that
mark where messages end. Cut it where a message can end (after 00 00 ff ff for zlib,
at a block end for zstd) and join pieces that do not decode alone: a false cut only
costs a retry, never a lost byte.

Retries are where the cost hides: a 100 MB message is 800 zstd blocks, and decoding the
joined bytes again after each one is quadratic. So `raw_messages` decodes only where a
message is likely to end (zstd: after a block shorter than zstd's largest; zlib: every
cut), waits for the pending bytes to double after a failed try, and finds an end it
skipped from the decoder's "trailing bytes" offset. Each inflated byte is decoded a
bounded number of times.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, NoReturn

from birbctl.errors import DecodeError, InflateError
from birbctl.protocol.wire import ETF_VERSION
from birbctl.transport.inflate import (
    ZLIB_SUFFIX,
    Inflater,
    _ZstdBlockTracker,
    zlib_stream_inflater,
    zstd_stream_inflater,
)

#: zstd's Block_Maximum_Size. A flushed stream cuts a long message into blocks of exactly
#: this many inflated bytes, so a cut after a full block is rarely a message end.
ZSTD_FULL_BLOCK = 128 * 1024

Decode = Callable[[bytes | memoryview], Any]


class RawMessage(NamedTuple):
    """One message of a raw stream, or (error set) the undecodable bytes at its end."""

    start: int  # file offset of its first compressed byte
    end: int  # file offset just after its last compressed byte
    data: bytes  # the inflated message
    payload: Any  # decoded payload (None when error is set)
    error: DecodeError | None = None


def zlib_cut_points(data: bytes) -> list[int]:
    """Offsets just after each 00 00 ff ff, plus the end of the data."""
    cuts: list[int] = []
    at = data.find(ZLIB_SUFFIX)
    while at != -1:
        cuts.append(at + 4)
        at = data.find(ZLIB_SUFFIX, at + 4)
    if not cuts or cuts[-1] != len(data):
        cuts.append(len(data))
    return cuts


def zstd_cut_points(data: bytes) -> list[int]:
    """Offsets of each zstd block end, plus the end of the data."""
    tracker = _ZstdBlockTracker()
    cuts: list[int] = []
    start = 0
    for end in _header_walk(tracker, data):
        cuts.append(end)
        start = end
    if start != len(data):
        cuts.append(len(data))
    return cuts


def _header_walk(tracker: _ZstdBlockTracker, data: bytes) -> Iterator[int]:
    # Feed a byte range at a time up to each header: cheap, as blocks are large.
    view = memoryview(data)
    i = 0
    n = len(data)
    while i < n:
        step = tracker.bytes_to_next_header() or 1
        tracker.feed(view[i : i + step])
        i += step
        if tracker.at_boundary:
            yield i


def inflate_pieces(
    data: bytes, compress: str, *, max_size: int
) -> Iterator[tuple[int, int, bytes]]:
    """Yield (start, end, inflated bytes) for each cut of a raw stream that inflates to
    something; `start` includes any header bytes before it that inflated to nothing."""
    inflater: Inflater
    if compress == "zlib-stream":
        inflater, cuts = zlib_stream_inflater(max_size), zlib_cut_points(data)
    else:
        inflater, cuts = zstd_stream_inflater(max_size), zstd_cut_points(data)
    start = 0  # first compressed byte not yet part of a yielded piece
    at = 0
    for end in cuts:
        piece = inflater.feed(data[at:end])
        at = end
        if piece is not None:
            yield start, end, piece
            start = end
    if inflater.pending():
        raise InflateError(
            f"stream ends inside a message ({inflater.pending()} bytes left over)",
            offset=len(data) - inflater.pending(),
        )


def raw_messages(
    data: bytes, compress: str, *, max_size: int, decode: Decode | None = None
) -> Iterator[RawMessage]:
    """Each message of a raw stream, decoded with `decode` (default: decode_message).

    Bytes that never decode end the iteration with one RawMessage carrying the first
    error; pending bytes past `max_size` raise InflateError naming the cap.
    """
    if decode is None:
        from birbctl.codec.message import decode_message

        decode = decode_message
    assembler = _Assembler(decode, zstd=compress == "zstd-stream", max_size=max_size)
    pieces = inflate_pieces(data, compress, max_size=max_size)
    while True:
        try:
            start, end, piece = next(pieces)
        except StopIteration:
            break
        except InflateError:
            # The stream breaks here: first the messages that ended before it.
            yield from assembler.flush()
            raise
        yield from assembler.add(start, end, piece)
    yield from assembler.flush()
    yield from assembler.finish()


class _Assembler:
    """Joins inflated pieces into messages, trying to decode at a bounded cost."""

    def __init__(self, decode: Decode, *, zstd: bool, max_size: int) -> None:
        self._decode = decode
        self._zstd = zstd
        self._max = max_size
        self._parts: list[bytes] = []  # inflated bytes not yet part of a message
        self._size = 0  # their total length
        self._cuts: list[int] = []  # pending-relative ends of those pieces, ascending
        self._ends: list[int] = []  # the file offset of each of those ends
        self._start = 0  # file offset of the pending bytes
        self._failed_at = 0  # pending size at the last failed try (0: none yet)
        self._error: DecodeError | None = None  # the first failure of the pending bytes

    def add(self, start: int, end: int, piece: bytes) -> Iterator[RawMessage]:
        if not self._parts:
            self._start = start
        self._parts.append(piece)
        self._size += len(piece)
        self._cuts.append(self._size)
        self._ends.append(end)
        if self._size > self._max:
            ready = True  # over the cap unless messages end before it: find out now
        elif self._failed_at:
            ready = self._size >= 2 * self._failed_at
        else:
            ready = not self._zstd or len(piece) != ZSTD_FULL_BLOCK
        if ready:
            yield from self._try()
        if self._size > self._max:
            self._over_cap()

    def flush(self) -> Iterator[RawMessage]:
        """Try the pending bytes now, whatever the spacing of tries."""
        if self._parts:
            yield from self._try()

    def finish(self) -> Iterator[RawMessage]:
        """The bytes left after the last flush, with the first error they gave."""
        if self._parts:
            data = self._parts[0]
            error = self._error or DecodeError("undecodable message", offset=0)
            yield RawMessage(self._start, self._ends[-1], data, None, error)

    def _try(self) -> Iterator[RawMessage]:
        """Decode the pending bytes; on failure, up to the cut the decoder points at.

        Costs one decode of the pending bytes, plus one of each message split off.
        """
        parts = self._parts
        joined = parts[0] if len(parts) == 1 else b"".join(parts)
        view = memoryview(joined)
        cuts = self._cuts
        pos = 0  # start of the bytes not yet emitted
        index = 0  # their first cut
        failure: DecodeError | None = None
        while True:
            try:
                payload = self._decode(view[pos:] if pos else joined)
            except DecodeError as exc:
                cut = None
                for candidate in self._cuts_at(view, pos, index, exc):
                    try:
                        payload = self._decode(view[pos:candidate])
                    except DecodeError:
                        continue
                    cut = candidate
                    break
                if cut is None:
                    failure = exc
                    break
                index = bisect_left(cuts, cut, index)
                yield self._message(joined[pos:cut], payload, index)
                pos = cut
                index += 1
                continue
            yield self._message(joined[pos:] if pos else joined, payload, len(cuts) - 1)
            pos = len(joined)
            break
        if failure is None:
            self._parts, self._cuts, self._ends, self._size = [], [], [], 0
            self._failed_at, self._error = 0, None
            return
        # Keep what is left: one copy a try, not one a message.
        self._parts = [joined[pos:] if pos else joined]
        if pos:
            self._cuts = [c - pos for c in cuts[index:]]
            self._ends = self._ends[index:]
            self._size -= pos
        self._failed_at = self._size
        if self._error is None:
            # Without traceback and context: they hold the decoder's view of the bytes.
            failure.__traceback__ = failure.__context__ = None
            self._error = failure

    def _cuts_at(self, view: memoryview, pos: int, index: int, exc: DecodeError) -> list[int]:
        """Cuts where a message may end, from the error's offset: a message followed by
        more bytes fails with "trailing bytes" right at its end. JSON offsets count
        characters (orjson), so for UTF-8 text the cut at the byte offset is tried too."""
        if exc.offset is None or exc.offset <= 0:
            return []
        offsets = [exc.offset]
        if view[pos] != ETF_VERSION:
            in_bytes = _utf8_offset(view[pos : pos + 4 * exc.offset], exc.offset)
            if in_bytes != exc.offset:
                offsets.append(in_bytes)
        cuts = self._cuts
        found: list[int] = []
        for offset in offsets:
            at = bisect_left(cuts, pos + offset, index)
            if at < len(cuts) - 1 and cuts[at] not in found:
                found.append(cuts[at])
        return found

    def _message(self, data: bytes, payload: Any, index: int) -> RawMessage:
        """The message that ends at cut `index`; the pending bytes now start after it."""
        if len(data) > self._max:
            self._over_cap()
        message = RawMessage(self._start, self._ends[index], data, payload)
        self._start = self._ends[index]
        self._failed_at, self._error = 0, None
        return message

    def _over_cap(self) -> NoReturn:
        raise InflateError(f"message inflates past the {self._max}-byte cap", offset=self._start)


def _utf8_offset(data: memoryview, chars: int) -> int:
    """The byte offset of character `chars` in UTF-8 `data` (invalid bytes count one)."""
    head = bytes(data[:chars])
    if head.isascii():
        return chars
    text = bytes(data).decode("utf-8", "surrogateescape")[:chars]
    return len(text.encode("utf-8", "surrogateescape"))
