"""Types of the C receive path (_receive_c.c); inflate.py and receive.py hold the
Python twins and say what each does."""

from collections.abc import Callable
from typing import Any

from birbctl.protocol.wire import Compression

class ZlibStreamInflater:
    compress: Compression
    def __init__(self, max_size: int, *, inflate: Any = None) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> bytes | None: ...
    def pending(self) -> int: ...

class FrameReader:
    @property
    def frames(self) -> int: ...
    @property
    def last_message(self) -> bytes | str: ...
    def __init__(
        self,
        inflate: Callable[[bytes], bytes | None],
        decode: Callable[[bytes], Any],
        text: Callable[[str], Any],
        catch: tuple[type[BaseException], ...],
        locate: Callable[[BaseException, bytes, int], BaseException],
    ) -> None: ...
    def feed(self, frame: bytes | str) -> Any | None: ...
    def feed_kept(self, frame: bytes | str) -> Any | None: ...
