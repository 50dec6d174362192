"""process_packet: frames of one connection in, decoded payloads out (inflater + codec).

The decoder is chosen once per connection from its `encoding`, not sniffed per message:
this is the hot path of every live connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from birbctl.codec.json import decode_json, json_error
from birbctl.errors import DecodeError
from birbctl.protocol.wire import Compression, Encoding
from birbctl.transport.inflate import DEFAULT_MAX_MESSAGE, Inflater, make_inflater
from birbctl.transport.receive import frame_reader


def message_decoder(encoding: Encoding) -> Callable[[bytes], Any]:
    """bytes -> payload for one encoding; ETF snowflakes become str, as in JSON, and ETF
    nesting stops at MAX_DEPTH (JSON's is found by orjson: see codec/depth.py).

    Raises DecodeError, or orjson.JSONDecodeError for JSON (converted by `locate`:
    a wrapper would cost a call per message).
    """
    if encoding == Encoding.JSON:
        return orjson.loads
    from birbctl.codec.etf import decode_gateway_etf

    return decode_gateway_etf


def locate(exc: BaseException, message: bytes, frame: int) -> BaseException:
    """A decode failure placed at its frame: the error the user sees."""
    if isinstance(exc, orjson.JSONDecodeError):
        return json_error(exc, message).located(frame=frame)
    if isinstance(exc, DecodeError):
        return exc.located(frame=frame)
    return exc


#: What `locate` places; anything else is a bug and passes unchanged.
LOCATED = (DecodeError, orjson.JSONDecodeError)


class PacketReader:
    """One per connection: it owns the connection's inflate context.

    `feed(frame)` returns the payload the frame completes, or None while a message spans
    frames; `feed_kept(frame)` also keeps the inflated message in `last_message` (for
    views that show sizes or raw bytes; the plain `feed()` skips that work). Both raise
    DecodeError (InflateError for the transport) located at the frame; after an
    InflateError the inflate context is broken and the connection must go.
    """

    __slots__ = ("_frames", "encoding", "feed", "feed_kept", "inflater")

    def __init__(
        self, encoding: Encoding, compress: Compression, *, max_size: int = DEFAULT_MAX_MESSAGE
    ) -> None:
        self.encoding = encoding
        self.inflater: Inflater = make_inflater(compress, max_size=max_size)
        self._frames = frame_reader(
            self.inflater.feed, message_decoder(encoding), decode_json, LOCATED, locate
        )
        self.feed: Callable[[bytes | str], Any | None] = self._frames.feed
        self.feed_kept: Callable[[bytes | str], Any | None] = self._frames.feed_kept

    @property
    def frames(self) -> int:
        """Frames fed so far (errors count them from 1)."""
        return self._frames.frames

    @property
    def received_bytes(self) -> int:
        """Bytes of the frames fed so far, as they came (compressed; text as UTF-8)."""
        return self._frames.received_bytes

    @property
    def inflated_bytes(self) -> int:
        """Bytes of the messages those frames completed, inflated."""
        return self._frames.inflated_bytes

    @property
    def last_message(self) -> bytes | str:
        """The last message `feed_kept()` inflated, or the last text frame."""
        return self._frames.last_message
