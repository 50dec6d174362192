"""Raw compressed streams saved without their websocket framing.

A file that holds a whole zlib-stream or zstd-stream has lost the frame boundaries that
mark where messages end. Cut it where a message can end (after 00 00 ff ff for zlib,
at a block end for zstd) and let the caller join pieces that do not decode alone:
a false cut only costs a retry, never a lost byte.
"""

from __future__ import annotations

from collections.abc import Iterator

from birbctl.transport.inflate import (
    ZLIB_SUFFIX,
    ZlibStreamInflater,
    ZstdStreamInflater,
    _ZstdBlockTracker,
)


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
    i = 0
    n = len(data)
    while i < n:
        step = tracker.bytes_to_next_header() or 1
        tracker.feed(data[i : i + step])
        i += step
        if tracker.at_boundary:
            yield i


def inflate_raw(data: bytes, compress: str, *, max_size: int) -> Iterator[tuple[int, int, bytes]]:
    """Yield (start, end, inflated bytes) for each cut of a raw stream."""
    inflater: ZlibStreamInflater | ZstdStreamInflater
    if compress == "zlib-stream":
        inflater, cuts = ZlibStreamInflater(max_size), zlib_cut_points(data)
    else:
        inflater, cuts = ZstdStreamInflater(max_size), zstd_cut_points(data)
    start = 0
    for end in cuts:
        message = inflater.feed(data[start:end])
        if message is not None:
            yield start, end, message
        start = end
    if inflater.pending():
        from birbctl.errors import InflateError

        raise InflateError(
            f"stream ends inside a message ({inflater.pending()} bytes left over)",
            offset=len(data) - inflater.pending(),
        )
