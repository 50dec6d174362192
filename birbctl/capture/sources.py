"""Read gateway messages out of files: captures, HAR, raw ETF, JSON, JSON Lines, raw
zlib-stream and zstd-stream. Every message carries where it came from, so an error can
say file:frame:offset.

Captures and JSON Lines are streamed a line at a time; the other formats are whole
documents (or a raw stream without frame boundaries) and are read under a size cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from birbctl.capture.message import ErrorHandler, Message, report
from birbctl.capture.stream import iter_lines, open_source, read_whole
from birbctl.codec.message import decode_message
from birbctl.codec.sniff import sniff
from birbctl.errors import ConfigError, DecodeError
from birbctl.options import SourceFormat
from birbctl.protocol.wire import Compression, Direction
from birbctl.transport.inflate import DEFAULT_MAX_MESSAGE

__all__ = ["MAX_WHOLE_FILE", "Message", "iter_messages"]

#: Largest whole file read into memory for the formats that are not streamed.
MAX_WHOLE_FILE = DEFAULT_MAX_MESSAGE

Reader = Callable[[BinaryIO, ErrorHandler], Iterator[Message]]


def iter_messages(
    name: str, fmt: SourceFormat | str | None = None, *, on_error: ErrorHandler = None
) -> Iterator[Message]:
    """Decode every message in file `name` ("-" for stdin); `fmt` forces the format.

    With `on_error`, a bad frame is handed to it and skipped instead of raised; a broken
    inflate context skips the rest of its connection (or raw stream) with one report.
    """
    if fmt is not None and fmt not in _READERS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(SourceFormat)}")
    head, fh = open_source(name)
    with fh:
        if fmt is None:
            fmt = sniff(head)
            if fmt is None:
                raise DecodeError(
                    "cannot tell the format (not a capture, HAR, ETF, JSON, JSON Lines, "
                    "zlib-stream or zstd-stream); name it with --from",
                    file=name,
                    offset=0,
                )

        def located(exc: DecodeError) -> None:
            report(on_error, exc.located(file=name))

        try:
            yield from _READERS[fmt](fh, None if on_error is None else located)
        except DecodeError as exc:
            raise exc.located(file=name) from None


def _hide_token(payload: Any) -> Any:
    """Raw files may hold an IDENTIFY or RESUME: its token never reaches the output."""
    if type(payload) is dict and payload.get("op") in (2, 6):
        # Imported here: the opcode tables it brings are start-up time `decode` needs
        # only for such a payload.
        from birbctl.protocol.payloads import redact

        return redact(payload)
    return payload


def _read_capture(fh: BinaryIO, on_error: ErrorHandler) -> Iterator[Message]:
    from birbctl.capture.reader import read_capture

    return read_capture(fh, on_error=on_error)


def _read_har(fh: BinaryIO, on_error: ErrorHandler) -> Iterator[Message]:
    from birbctl.capture.har import MAX_HAR, read_har

    return read_har(read_whole(fh, MAX_HAR), on_error=on_error)


def _read_single(fh: BinaryIO, on_error: ErrorHandler) -> Iterator[Message]:
    data = read_whole(fh, MAX_WHOLE_FILE)
    try:
        payload = _hide_token(decode_message(data))
    except DecodeError as exc:
        report(on_error, exc.located(frame=1, offset=0))
        return
    yield Message(payload, 1, 0, len(data), len(data))


def _read_jsonl(fh: BinaryIO, on_error: ErrorHandler) -> Iterator[Message]:
    frame = 1
    for _number, start, line in iter_lines(fh):
        if not line.strip():
            continue
        try:
            payload = _hide_token(decode_message(line))
        except DecodeError as exc:
            exc.offset = start + (exc.offset or 0)  # the line's offset in the file
            report(on_error, exc.located(frame=frame))
            frame += 1
            continue
        yield Message(payload, frame, start, len(line), len(line))
        frame += 1


def _read_raw_stream(compress: Compression) -> Reader:
    def read(fh: BinaryIO, on_error: ErrorHandler) -> Iterator[Message]:
        from birbctl.transport.raw import raw_messages

        data = read_whole(fh, MAX_WHOLE_FILE)
        recv = Direction.RECV
        frame = 1
        failure: DecodeError | None = None
        try:
            # raw_messages decodes where a message can end, at a bounded cost per byte, and
            # hands back each payload it decoded: nothing is decoded twice here.
            for found in raw_messages(
                data, compress, max_size=DEFAULT_MAX_MESSAGE, decode=decode_message
            ):
                if found.error is not None:  # bytes at the end that never decoded
                    failure = found.error.located(frame=frame, offset=found.start)
                    break
                size = found.end - found.start
                payload = _hide_token(found.payload)
                yield Message(payload, frame, found.start, size, len(found.data), direction=recv)
                frame += 1
        except DecodeError as exc:  # InflateError too: the file's one inflate context broke
            failure = exc.located(frame=frame)
        if failure is not None:
            report(on_error, failure)

    return read


_READERS: dict[str, Reader] = {
    SourceFormat.ETF: _read_single,
    SourceFormat.JSON: _read_single,
    SourceFormat.JSONL: _read_jsonl,
    SourceFormat.ZLIB_STREAM: _read_raw_stream(Compression.ZLIB_STREAM),
    SourceFormat.ZSTD_STREAM: _read_raw_stream(Compression.ZSTD_STREAM),
    SourceFormat.CAPTURE: _read_capture,
    SourceFormat.HAR: _read_har,
}


def read_source(name: str) -> bytes:
    """The whole of a file, or stdin for "-", with a size cap and a clear error."""
    _head, fh = open_source(name)
    with fh:
        try:
            return read_whole(fh, MAX_WHOLE_FILE)
        except DecodeError as exc:
            raise exc.located(file=name) from None
