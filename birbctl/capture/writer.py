"""Recording a session (docs/capture-format.md): one JSON line per event, straight to the file.

Each line is one `os.write`, so a crash loses at most the line in flight, and the file is
created 0600 because it is a transcript of a bot's traffic.
"""

from __future__ import annotations

import binascii
import errno
import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import orjson

from birbctl.capture.header import CaptureHeader
from birbctl.capture.redaction import redact_sent_frame, redact_url
from birbctl.errors import BirbError, ConfigError
from birbctl.protocol.wire import Compression, Direction, Encoding

_OPEN_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_TRUNC
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)  # never write through a planted symlink
)


_DIRECTIONS = frozenset(Direction)
#: Looked up once: reading a member off its enum class costs ~0.15 us, paid per frame here.
_SEND, _RECV = Direction.SEND, Direction.RECV


def _bad_direction(direction: object) -> str:
    return f"direction must be {' or '.join(Direction)}, not {direction!r}"


class CaptureWriteError(BirbError):
    """The capture file cannot be written (disk full, gone, no permission)."""


class CaptureWriter:
    """Writes one capture file; not thread-safe (one writer per recording task)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        url: str | None,
        encoding: Encoding | str,
        compress: Compression | str | None,
        shard: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Words (and None for no compression) are taken too, for callers outside the CLI.
        try:
            self.encoding = Encoding(encoding)
            compression = Compression.of(compress)
        except ValueError as exc:
            raise ConfigError(f"capture: {exc}") from None
        self.path = os.fspath(path)
        self._clock = clock
        self._fd: int | None = None
        try:
            fd = os.open(self.path, _OPEN_FLAGS, 0o600)
        except OSError as exc:
            raise CaptureWriteError(
                f"cannot create capture {self.path}: {exc.strerror or exc}"
            ) from None
        self._fd = fd
        try:
            os.fchmod(fd, 0o600)  # O_TRUNC kept an existing file's mode; make it ours
        except OSError as exc:
            self.close()
            raise CaptureWriteError(
                f"cannot make capture {self.path} private: {exc.strerror or exc}"
            ) from None
        header = CaptureHeader(
            url=redact_url(url), encoding=self.encoding, compress=compression, shard=shard
        )
        self._write(header.to_json())

    def opened(
        self, conn: int, *, shard: tuple[int, int] | None = None, t: float | None = None
    ) -> None:
        """A connection started: readers start a fresh inflate context for `conn`. With
        several shards in one capture, `shard` says whose connection it is: each later
        line names its `conn`, so one mention per connection tells them all apart."""
        event: dict[str, Any] = {
            "t": self._now(t), "conn": conn, "dir": Direction.RECV, "kind": "open", "data": ""
        }  # fmt: skip
        if shard is not None:
            event["shard"] = list(shard)
        self._write(event)

    def frame(
        self, conn: int, direction: Direction, data: bytes | str, *, t: float | None = None
    ) -> None:
        """A websocket message as it went over the wire (received ones still compressed)."""
        event: dict[str, Any] = {"t": self._now(t), "conn": conn, "dir": direction}
        if direction == _SEND:
            redacted = redact_sent_frame(data)
            if redacted is None:
                event["kind"] = "text" if isinstance(data, str) else "binary"
                event["data"] = ""
                event["redacted"] = "undecodable frame, not recorded: it could hold a token"
                self._write(event)
                return
            data = redacted
        elif direction != _RECV:
            raise ValueError(_bad_direction(direction))
        if isinstance(data, str):
            event["kind"], event["data"] = "text", data
        else:
            event["kind"] = "binary"
            event["data"] = binascii.b2a_base64(data, newline=False).decode("ascii")
        self._write(event)

    def closed(
        self,
        conn: int,
        code: int | None,
        reason: str = "",
        *,
        direction: Direction = Direction.RECV,
        t: float | None = None,
    ) -> None:
        """The connection ended: "recv" when the server closed it (or the network lost
        it), "send" when we did (`code` ours; None: we dropped it without a close frame)."""
        if direction not in _DIRECTIONS:
            raise ValueError(_bad_direction(direction))
        self._write(
            {
                "t": self._now(t),
                "conn": conn,
                "dir": direction,
                "kind": "close",
                "data": reason,
                "code": code,
            }
        )

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _now(self, t: float | None) -> float:
        return self._clock() if t is None else t

    def _write(self, event: dict[str, Any]) -> None:
        if self._fd is None:
            raise CaptureWriteError(f"capture {self.path} is closed")
        line = memoryview(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
        try:
            while line:
                line = line[os.write(self._fd, line) :]
        except OSError as exc:
            self.close()  # a half-written line must stay the last one
            what = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "write failed"
            raise CaptureWriteError(
                f"capture {self.path}: {what} ({exc.strerror or exc}); recording stopped"
            ) from None
