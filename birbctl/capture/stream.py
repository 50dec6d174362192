"""Opening an input once: sniff its first bytes, then stream the rest (stdin included).

Captures and JSON Lines files can be any size, so they are read a line at a time with a
cap on the line length: memory stays bounded whatever the file holds.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from birbctl.errors import ConfigError, DecodeError
from birbctl.transport.inflate import DEFAULT_MAX_MESSAGE

HEAD_SIZE = 4096
BUFFER_SIZE = 1 << 16
#: What iter_line_batches reads and splits at once: small enough that a batch's lines are
#: still in the CPU's cache when they are decoded (1 MiB batches cost decode about 2%).
CHUNK_SIZE = 1 << 16

#: Longest line accepted: a capture line holding the biggest allowed frame, base64-encoded.
MAX_LINE = (DEFAULT_MAX_MESSAGE // 3 + 1) * 4 + 4096


class _Prefixed(io.RawIOBase):
    """A pipe whose first bytes were already read for sniffing, put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._rest.readinto(buffer)  # type: ignore[attr-defined, no-any-return]


def open_source(name: str) -> tuple[bytes, BinaryIO]:
    """The first bytes of `name` ("-" for stdin) and a binary stream from its start."""
    try:
        if name == "-":
            stdin = sys.stdin.buffer
            head = stdin.read(HEAD_SIZE)
            return head, io.BufferedReader(_Prefixed(head, stdin), BUFFER_SIZE)
        fh = Path(name).open("rb", buffering=BUFFER_SIZE)  # noqa: SIM115 (caller closes)
        head = fh.read(HEAD_SIZE)
        fh.seek(0)
        return head, fh
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None


def read_whole(fh: BinaryIO, limit: int) -> bytes:
    """All of a stream, refusing (before reading it all) anything over `limit` bytes."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise DecodeError(f"file is larger than {limit} bytes", offset=limit)
    return data


def iter_line_batches(
    fh: BinaryIO, limit: int = MAX_LINE, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[list[bytes], bool]]:
    """Lines without their newline, a chunk's worth at a time: splitting a chunk in C is
    far cheaper than a readline call per line. The flag is False only for a last line
    that had no newline (a file cut short). Raises DecodeError (offset of the line) for a
    line over `limit` bytes, before holding much more than that in memory."""
    read = fh.read
    parts: list[bytes] = []  # the unfinished line, as read so far
    pending = 0
    offset = 0  # file offset of the first line of the next batch
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        if chunk.find(b"\n") == -1:
            parts.append(chunk)
            pending += len(chunk)
            if pending > limit:
                raise DecodeError(f"line longer than {limit} bytes", offset=offset)
            continue
        if parts:
            parts.append(chunk)
            chunk = b"".join(parts)
            parts = []
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            parts.append(rest)
        pending = len(rest)
        if pending > limit:
            raise DecodeError(
                f"line longer than {limit} bytes", offset=offset + len(chunk) - pending
            )
        if len(chunk) > limit:
            at = offset
            for line in lines:
                if len(line) > limit:
                    raise DecodeError(f"line longer than {limit} bytes", offset=at)
                at += len(line) + 1
        offset += len(chunk) - len(rest)
        yield lines, True
    if parts:
        yield [b"".join(parts)], False


def iter_lines(fh: BinaryIO, limit: int = MAX_LINE) -> Iterator[tuple[int, int, bytes]]:
    """(line number from 1, byte offset, line without its newline) for each line."""
    number = 0
    offset = 0
    for lines, _complete in iter_line_batches(fh, limit):
        for line in lines:
            number += 1
            yield number, offset, line
            offset += len(line) + 1
