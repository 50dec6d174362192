"""The one message type every source yields, so `decode` filters and prints them alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from birbctl.errors import DecodeError

#: Called with each bad frame when the user asked to keep going; None means raise.
ErrorHandler = Callable[[DecodeError], None] | None


@dataclass(slots=True)
class Message:
    """A decoded gateway payload and where it came from.

    Not frozen: a frozen dataclass pays a setattr per field, and a capture makes one of
    these per frame. Captures and HAR files fill in `ts`, `conn`, `direction`, `kind`;
    raw files leave them None. Captures know `shard` from the connection's open line (or
    the header, for a one-shard capture); `tail` from the shard itself.
    """

    payload: Any
    frame: int  # 1-based: message number in a raw file, line number in a capture
    offset: int | None  # byte offset in the file (None where a parser hides it: HAR)
    wire_size: int  # bytes as stored (compressed, if it was)
    size: int  # bytes once inflated
    ts: float | None = None  # unix seconds (captures) or the HAR's message time
    conn: int | None = None
    #: A wire.Direction's word, "send" or "recv" (str, not the member: the capture
    #: reader's fast path stores the word it read; the two compare equal either way).
    direction: str | None = None
    kind: str | None = None  # "text" | "binary"
    shard: tuple[int, int] | None = None  # the shard whose connection it was on, if known

    @property
    def op(self) -> int | None:
        value = self.payload.get("op") if type(self.payload) is dict else None
        return value if type(value) is int else None

    @property
    def t(self) -> str | None:
        value = self.payload.get("t") if type(self.payload) is dict else None
        return value if type(value) is str else None

    @property
    def s(self) -> int | None:
        value = self.payload.get("s") if type(self.payload) is dict else None
        return value if type(value) is int else None


def report(on_error: ErrorHandler, exc: DecodeError) -> None:
    """Raise `exc`, or hand it to the keep-going handler and carry on."""
    if on_error is None:
        raise exc
    on_error(exc)
