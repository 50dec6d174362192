"""The error tree: every failure a user can cause maps to one line and one exit code.

The CLI catches `BirbError`, prints `birbctl: error: <str(err)>` and exits with
`err.exit_code`; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_UNDECODABLE = 3
EXIT_FATAL_CLOSE = 4
EXIT_INTERRUPTED = 130


class BirbError(Exception):
    """Root of every error birbctl reports to the user."""

    exit_code = EXIT_RUNTIME


class ConfigError(BirbError):
    """Bad options, missing token, unreadable config: the user must change the call."""

    exit_code = EXIT_USAGE


class DecodeError(BirbError):
    """Bytes that cannot be decoded. Carries where: file, frame (counted from 1, like
    lines), byte offset (from 0, like a hex dump)."""

    exit_code = EXIT_UNDECODABLE

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        frame: int | None = None,
        file: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.frame = frame
        self.file = file

    def located(
        self, *, file: str | None = None, frame: int | None = None, offset: int | None = None
    ) -> DecodeError:
        """Fill in the outer location (file, frame) as the error travels up; keeps the inner one."""
        if self.file is None and file is not None:
            self.file = file
        if self.frame is None and frame is not None:
            self.frame = frame
        if self.offset is None and offset is not None:
            self.offset = offset
        return self

    def where(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(self.file)
        if self.frame is not None:
            parts.append(f"frame {self.frame}")
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class InflateError(DecodeError):
    """A compressed stream (zlib-stream, zstd-stream) is corrupt or inflates past the cap."""


class ProtocolError(BirbError):
    """A gateway rule was broken."""


class LocalProtocolError(ProtocolError):
    """We were about to break a rule (payload over 4096 bytes, send while closed...)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke a rule (unexpected opcode, payload without `op`...)."""


class GatewayClosed(BirbError):
    """The gateway closed the connection; fatal codes end the program with exit 4."""

    def __init__(self, code: int | None, reason: str = "", *, reconnectable: bool) -> None:
        self.code = code
        self.reason = reason
        self.reconnectable = reconnectable
        super().__init__(self._describe())

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return EXIT_RUNTIME if self.reconnectable else EXIT_FATAL_CLOSE

    def _describe(self) -> str:
        code = "no close code" if self.code is None else f"close code {self.code}"
        return f"gateway closed the connection ({code}){': ' + self.reason if self.reason else ''}"
