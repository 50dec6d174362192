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
from typing import Any, Literal

import orjson

from birbctl.capture.header import ENCODINGS, CaptureHeader
from birbctl.capture.redaction import redact_sent_frame, redact_url
from birbctl.errors import BirbError, ConfigError

Direction = Literal["send", "recv"]

_OPEN_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_TRUNC
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)  # never write through a planted symlink
)


class CaptureWriteError(BirbError):
    """The capture file cannot be written (disk full, gone, no permission)."""


class CaptureWriter:
    """Writes one capture file; not thread-safe (one writer per recording task)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        url: str | None,
        encoding: str,
        compress: str | None,
        shard: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if encoding not in ENCODINGS:
            raise ConfigError(f"capture encoding must be json or etf, not {encoding!r}")
        self.path = os.fspath(path)
        self.encoding = encoding
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
            url=redact_url(url), encoding=encoding, compress=compress, shard=shard
        )
        self._write(header.to_json())

    def opened(
        self, conn: int, *, shard: tuple[int, int] | None = None, t: float | None = None
    ) -> None:
        """A connection started: readers start a fresh inflate context for `conn`. With
        several shards in one capture, `shard` says whose connection it is: each later
        line names its `conn`, so one mention per connection tells them all apart."""
        event: dict[str, Any] = {
            "t": self._now(t), "conn": conn, "dir": "recv", "kind": "open", "data": ""
        }  # fmt: skip
        if shard is not None:
            event["shard"] = list(shard)
        self._write(event)

    def frame(
        self, conn: int, direction: Direction, data: bytes | str, *, t: float | None = None
    ) -> None:
        """A websocket message as it went over the wire (received ones still compressed)."""
        event: dict[str, Any] = {"t": self._now(t), "conn": conn, "dir": direction}
        if direction == "send":
            redacted = redact_sent_frame(data)
            if redacted is None:
                event["kind"] = "text" if isinstance(data, str) else "binary"
                event["data"] = ""
                event["redacted"] = "undecodable frame, not recorded: it could hold a token"
                self._write(event)
                return
            data = redacted
        elif direction != "recv":
            raise ValueError(f"direction must be 'send' or 'recv', not {direction!r}")
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
        direction: Direction = "recv",
        t: float | None = None,
    ) -> None:
        """The connection ended: "recv" when the server closed it (or the network lost
        it), "send" when we did (`code` ours; None: we dropped it without a close frame)."""
        if direction not in ("send", "recv"):
            raise ValueError(f"direction must be 'send' or 'recv', not {direction!r}")
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
