"""FrameReader: one connection's frames in, payloads out (inflate, then decode).

Every frame of a live connection goes through `feed`, so it is the receive path's hot
loop; `frame_reader()` hands out its C twin (_receive_c.c) when that was built. Both
count frames and bytes (as received and as inflated: what `--metrics` reports, free to
count here), and place the errors they are given to catch at the frame, through the
`locate` function the caller passes: where a failure is reported is the caller's rule,
written once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from birbctl.transport import _receive_c

Locate = Callable[[BaseException, bytes, int], BaseException]


class FrameReader:
    """The rule in Python: text frames go to `text` whole; binary frames go through
    `inflate`, which returns a message or None while one spans frames, then `decode`.
    An error of a `catch` type is replaced by `locate(error, message so far, frame)`.

    A text frame counts its UTF-8 size both as received and as inflated."""

    __slots__ = (
        "_catch",
        "_decode",
        "_inflate",
        "_locate",
        "_text",
        "frames",
        "inflated_bytes",
        "last_message",
        "received_bytes",
    )

    def __init__(
        self,
        inflate: Callable[[bytes], bytes | None],
        decode: Callable[[bytes], Any],
        text: Callable[[str], Any],
        catch: tuple[type[BaseException], ...],
        locate: Locate,
    ) -> None:
        self._inflate = inflate
        self._decode = decode
        self._text = text
        self._catch = catch
        self._locate = locate
        self.frames = 0
        self.received_bytes = 0
        self.inflated_bytes = 0
        self.last_message: bytes | str = b""  # set by feed_kept()

    def feed(self, frame: bytes | str) -> Any | None:
        """The payload this frame completes, or None while a message spans frames."""
        self.frames += 1
        message: bytes | None = None
        try:
            if type(frame) is str:
                self._count_text(frame)
                return self._text(frame)
            self.received_bytes += len(frame)
            message = self._inflate(frame)  # type: ignore[arg-type]
            if message is None:
                return None
            self.inflated_bytes += len(message)
            return self._decode(message)
        except self._catch as exc:
            raise self._locate(exc, message or b"", self.frames) from None

    def feed_kept(self, frame: bytes | str) -> Any | None:
        """`feed()`, also keeping the inflated message (or the text frame) in
        `last_message`, for views that show sizes or raw bytes."""
        self.frames += 1
        message: bytes | None = None
        try:
            if type(frame) is str:
                self.last_message = frame
                self._count_text(frame)
                return self._text(frame)
            self.received_bytes += len(frame)
            message = self._inflate(frame)  # type: ignore[arg-type]
            if message is None:
                return None
            self.last_message = message
            self.inflated_bytes += len(message)
            return self._decode(message)
        except self._catch as exc:
            raise self._locate(exc, message or b"", self.frames) from None

    def _count_text(self, frame: str) -> None:
        size = len(frame) if frame.isascii() else len(frame.encode("utf-8", "surrogatepass"))
        self.received_bytes += size
        self.inflated_bytes += size


CFrameReader: type[_receive_c.FrameReader] | None
try:
    from birbctl.transport._receive_c import FrameReader as CFrameReader
except ImportError:  # built without a C compiler: the Python class does the same work
    CFrameReader = None


def frame_reader(
    inflate: Callable[[bytes], bytes | None],
    decode: Callable[[bytes], Any],
    text: Callable[[str], Any],
    catch: tuple[type[BaseException], ...],
    locate: Locate,
) -> FrameReader | _receive_c.FrameReader:
    """A connection's FrameReader: the C twin when it was built."""
    make = FrameReader if CFrameReader is None else CFrameReader
    return make(inflate, decode, text, catch, locate)
