"""Read gateway messages out of files: raw ETF, JSON, JSON Lines, raw zlib-stream and
zstd-stream. Every message carries where it came from, so an error can say
file:frame:offset."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birbctl.codec.message import decode_message
from birbctl.codec.sniff import FORMATS, sniff
from birbctl.errors import ConfigError, DecodeError
from birbctl.transport.inflate import DEFAULT_MAX_MESSAGE

#: Largest whole file read into memory for the formats that are not streamed.
MAX_WHOLE_FILE = DEFAULT_MAX_MESSAGE


@dataclass(frozen=True, slots=True)
class Message:
    payload: Any
    frame: int  # 1-based number of the message in its source, as errors count them
    offset: int  # byte offset of the message (or its compressed piece) in the file
    wire_size: int  # bytes as stored (compressed, if it was)
    size: int  # bytes once inflated


def read_source(name: str) -> bytes:
    """The whole of a file, or stdin for "-", with a size cap and a clear error."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_WHOLE_FILE + 1)
        else:
            with Path(name).open("rb") as fh:
                data = fh.read(MAX_WHOLE_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_WHOLE_FILE:
        raise DecodeError(f"file is larger than {MAX_WHOLE_FILE} bytes", file=name)
    return data


def iter_messages(name: str, fmt: str | None = None) -> Iterator[Message]:
    """Decode every message in file `name` ("-" for stdin); `fmt` forces the format."""
    data = read_source(name)
    if fmt is None:
        fmt = sniff(data[:4096])
        if fmt is None:
            raise DecodeError(
                "cannot tell the format (not ETF, JSON, JSON Lines, zlib-stream or "
                "zstd-stream); name it with --from",
                file=name,
                offset=0,
            )
    elif fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    try:
        yield from _READERS[fmt](data)
    except DecodeError as exc:
        raise exc.located(file=name) from None


def _read_single(data: bytes) -> Iterator[Message]:
    try:
        payload = decode_message(data)
    except DecodeError as exc:
        raise exc.located(frame=1) from None
    yield Message(payload, 1, 0, len(data), len(data))


def _read_jsonl(data: bytes) -> Iterator[Message]:
    offset = 0
    frame = 1
    for line in data.split(b"\n"):
        start = offset
        offset += len(line) + 1
        if not line.strip():
            continue
        try:
            payload = decode_message(line)
        except DecodeError as exc:
            exc.offset = start + (exc.offset or 0)  # the line's offset in the file
            raise exc.located(frame=frame) from None
        yield Message(payload, frame, start, len(line), len(line))
        frame += 1


def _read_raw_stream(compress: str) -> Any:
    def read(data: bytes) -> Iterator[Message]:
        from birbctl.transport.raw import inflate_raw

        frame = 1
        pieces: list[bytes] = []
        start = 0  # file offset where the pending message's compressed bytes start
        first_error: DecodeError | None = None
        try:
            for offset, end, piece in inflate_raw(data, compress, max_size=DEFAULT_MAX_MESSAGE):
                if not pieces:
                    start = offset
                pieces.append(piece)
                joined = piece if len(pieces) == 1 else b"".join(pieces)
                try:
                    payload = decode_message(joined)
                except DecodeError as exc:
                    # A cut that was not a message end: join it with the next piece.
                    first_error = first_error or exc.located(frame=frame, offset=start)
                    if len(joined) > DEFAULT_MAX_MESSAGE:
                        raise first_error from None
                    continue
                yield Message(payload, frame, start, end - start, len(joined))
                pieces.clear()
                first_error = None
                frame += 1
        except DecodeError as exc:
            raise exc.located(frame=frame) from None
        if first_error is not None:
            raise first_error

    return read


_READERS: dict[str, Any] = {
    "etf": _read_single,
    "json": _read_single,
    "jsonl": _read_jsonl,
    "zlib-stream": _read_raw_stream("zlib-stream"),
    "zstd-stream": _read_raw_stream("zstd-stream"),
}


def _unsupported(fmt: str) -> Any:
    def read(data: bytes) -> Iterator[Message]:
        raise DecodeError(f"{fmt} files are not supported yet")
        yield  # pragma: no cover

    return read


_READERS["capture"] = _unsupported("capture")
_READERS["har"] = _unsupported("HAR")
