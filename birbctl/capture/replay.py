"""One recorded connection replayed: its own inflate context for received frames, and
direct decoding for sent ones (clients never compress what they send)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from birbctl.codec.depth import NestingError
from birbctl.codec.json import json_error
from birbctl.codec.message import decode_message
from birbctl.codec.packets import message_decoder
from birbctl.errors import DecodeError, InflateError
from birbctl.protocol.wire import Compression, Encoding
from birbctl.transport.inflate import Inflater, make_inflater

#: Ops whose `d.token` is a credential; decoded sends are redacted before anyone sees them.
_TOKEN_OPS = (2, 6)


class ConnectionReplay:
    """Feeds one connection's frames, in order, the way the live client would."""

    __slots__ = (
        "broken",
        "compressed",
        "decode",
        "inflate",
        "inflater",
        "pending_wire",
        "shard",
    )

    def __init__(
        self,
        encoding: Encoding | str,
        compress: Compression | str | None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        # Words are taken too: a HAR file names them in its URL (None: no compression).
        compression = Compression.of(compress)
        self.inflater: Inflater = make_inflater(compression)
        self.inflate = self.inflater.feed
        #: bytes -> payload; JSON errors come out as orjson.JSONDecodeError (see recv).
        self.decode: Callable[[bytes], Any] = message_decoder(Encoding(encoding))
        self.compressed = compression is not Compression.NONE
        self.broken = False  # the inflate context failed: nothing later on it can decode
        self.pending_wire = 0  # bytes of frames that started a message not yet complete
        self.shard = shard  # the shard the connection belonged to, if the capture says

    def recv(self, frame: bytes | str) -> tuple[Any, int, int] | None:
        """(payload, wire bytes, inflated bytes) for the message this frame completes."""
        if type(frame) is str:
            wire = len(frame.encode())
            return _loads(frame), wire, wire
        message = self.inflate(frame)  # type: ignore[arg-type]
        if message is None:
            self.pending_wire += len(frame)
            return None
        wire = self.pending_wire + len(frame)
        self.pending_wire = 0
        try:
            payload = self.decode(message)
        except orjson.JSONDecodeError as exc:
            raise json_error(exc, message) from None
        return payload, wire, len(message)

    @staticmethod
    def send(frame: bytes | str) -> tuple[Any, int]:
        """(payload, size) of a sent frame, with any token redacted."""
        size = len(frame.encode()) if type(frame) is str else len(frame)
        payload = decode_message(frame)
        if type(payload) is dict and payload.get("op") in _TOKEN_OPS:
            from birbctl.protocol.payloads import redact  # rare: spares decode's start-up

            payload = redact(payload)
        return payload, size


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise json_error(exc, text) from None


def locate(exc: DecodeError, *, frame: int, offset: int | None, conn: int | None) -> DecodeError:
    """The error placed at a frame of the file; its inner position goes into the text."""
    if isinstance(exc, NestingError):  # always at its frame, whichever path found it
        return NestingError(frame=frame, offset=offset, file=exc.file)
    message = exc.message
    if isinstance(exc, InflateError):
        if exc.offset is not None:
            message += f" (conn {conn}, compressed byte {exc.offset} of its stream)"
        elif conn is not None:
            message += f" (conn {conn})"
    elif exc.offset is not None:
        message += f" (at byte {exc.offset} of the message)"
    return type(exc)(message, frame=frame, offset=offset, file=exc.file)
