"""The closed sets a gateway connection is made of, defined once for every layer.

The values are the words Discord's query string, the capture format and the command
line use, so a member converts to and from text with `str()` and `Encoding(text)`.
This module imports nothing but `enum`: the CLI builds its options from it at start-up.
"""

from __future__ import annotations

import enum


class Encoding(enum.StrEnum):
    """The payload encoding a connection asks for with `?encoding=`."""

    JSON = "json"
    ETF = "etf"


class Compression(enum.StrEnum):
    """The transport compression a connection asks for with `?compress=`.

    NONE is the one way to say "no compression": the query leaves `compress` out and
    the capture header writes null for it.
    """

    ZLIB_STREAM = "zlib-stream"
    ZSTD_STREAM = "zstd-stream"
    NONE = "none"

    @classmethod
    def of(cls, value: str | None) -> Compression:
        """A member from its word, with None (as Python callers say it) meaning NONE.

        Raises ValueError for anything else, like `Compression(value)`.
        """
        return cls.NONE if value is None else cls(value)

    @classmethod
    def from_query(cls, word: str | None) -> Compression:
        """The member a gateway URL's `compress=` word names; no parameter means NONE.

        "none" is no word Discord knows, so it raises ValueError like any other.
        """
        if word is None:
            return cls.NONE
        if word == cls.NONE.value:
            raise ValueError(f"{word!r} is not a compress= word")
        return cls(word)

    @property
    def query_value(self) -> str | None:
        """What goes after `compress=`, or None when the parameter is left out."""
        return None if self is Compression.NONE else self.value


class Direction(enum.StrEnum):
    """Which way a frame went, seen from the client: what a capture and tail record."""

    SEND = "send"
    RECV = "recv"


#: The first byte of every ETF message (external term format version 131); a message
#: that starts with anything else is not ETF.
ETF_VERSION = 131
