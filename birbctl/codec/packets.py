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


def message_decoder(encoding: Encoding) -> Callable[[bytes], Any]:
    """bytes -> payload for one encoding; ETF snowflakes become str, as in JSON, and ETF
    nesting stops at MAX_DEPTH (JSON's is found by orjson: see codec/depth.py).

    Raises DecodeError, or orjson.JSONDecodeError for JSON (converted by the caller:
    a wrapper would cost a call per message).
    """
    if encoding == Encoding.JSON:
        return orjson.loads
    from birbctl.codec.etf import decode_gateway_etf

    return decode_gateway_etf


class PacketReader:
    """One per connection: it owns the connection's inflate context."""

    __slots__ = (
        "_decode",
        "_inflate",
        "encoding",
        "frames",
        "inflater",
        "last_message",
    )

    def __init__(
        self, encoding: Encoding, compress: Compression, *, max_size: int = DEFAULT_MAX_MESSAGE
    ) -> None:
        self.encoding = encoding
        self.inflater: Inflater = make_inflater(compress, max_size=max_size)
        self._inflate = self.inflater.feed
        self._decode = message_decoder(encoding)
        self.frames = 0
        self.last_message: bytes | str = b""  # the last inflated message, set by feed_kept()

    def feed(self, frame: bytes | str) -> Any | None:
        """The payload this frame completes, or None while a message spans frames.

        Raises DecodeError (InflateError for the transport) located at the frame; after
        an InflateError the inflate context is broken and the connection must go.
        """
        self.frames += 1
        try:
            if type(frame) is str:  # text frames only come uncompressed, JSON
                return decode_json(frame)
            message = self._inflate(frame)  # type: ignore[arg-type]
            if message is None:
                return None
            return self._decode(message)
        except DecodeError as exc:
            raise exc.located(frame=self.frames) from None
        except orjson.JSONDecodeError as exc:
            raise json_error(exc, message or b"").located(frame=self.frames) from None

    def feed_kept(self, frame: bytes | str) -> Any | None:
        """`feed()`, also keeping the inflated message in `last_message` (for views that
        show sizes or raw bytes; the plain `feed()` skips that work)."""
        self.frames += 1
        try:
            if type(frame) is str:
                self.last_message = frame
                return decode_json(frame)
            message = self._inflate(frame)  # type: ignore[arg-type]
            if message is None:
                return None
            self.last_message = message
            return self._decode(message)
        except DecodeError as exc:
            raise exc.located(frame=self.frames) from None
        except orjson.JSONDecodeError as exc:
            raise json_error(exc, message or b"").located(frame=self.frames) from None
