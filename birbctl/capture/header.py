"""The capture file's first line (docs/capture-format.md): what a reader needs to replay frames."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from birbctl.errors import DecodeError
from birbctl.protocol.wire import Compression, Encoding

FORMAT = "birbctl-capture"
VERSION = 1
#: The header's `compress` word, as the query says it: null for no compression.
_COMPRESSIONS: dict[str | None, Compression] = {c.query_value: c for c in Compression}


@dataclass(frozen=True, slots=True)
class CaptureHeader:
    url: str | None
    encoding: Encoding
    compress: Compression
    shard: tuple[int, int] | None
    created: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "created": self.created or datetime.now(UTC).isoformat(timespec="milliseconds"),
            "url": self.url,
            "encoding": self.encoding.value,
            "compress": self.compress.query_value,
            "shard": list(self.shard) if self.shard is not None else None,
        }


def parse_header(line: bytes) -> CaptureHeader:
    """Check the first line; anything but a version-1 birbctl capture is a clear error."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"bad capture header: invalid JSON: {exc.msg}", offset=exc.pos) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise DecodeError(f'not a birbctl capture: the first line lacks "format": "{FORMAT}"')
    version = obj.get("version")
    if version != VERSION:
        raise DecodeError(
            f"unsupported capture version {version!r} (this birbctl reads version {VERSION})"
        )
    encoding, compress = _encoding(obj.get("encoding")), _compression(obj.get("compress"))
    try:
        shard = parse_shard(obj.get("shard"))
    except DecodeError as exc:
        raise DecodeError(f"bad capture header: {exc.message}") from None
    url, created = obj.get("url"), obj.get("created")
    return CaptureHeader(
        url=url if isinstance(url, str) else None,
        encoding=encoding,
        compress=compress,
        shard=shard,
        created=created if isinstance(created, str) else None,
    )


def _encoding(value: Any) -> Encoding:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return Encoding(value)
    choices = " or ".join(Encoding)
    raise DecodeError(f"bad capture header: encoding {value!r} is not {choices}")


def _compression(value: Any) -> Compression:
    if value is None or isinstance(value, str):
        found = _COMPRESSIONS.get(value)
        if found is not None:
            return found
    words = ", ".join("null" if word is None else word for word in _COMPRESSIONS)
    raise DecodeError(f"bad capture header: compress {value!r} is not one of {words}")


def parse_shard(value: Any) -> tuple[int, int] | None:
    """A `shard` field (header, or an open event): [id, count] or null."""
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and all(type(n) is int for n in value):
        return (value[0], value[1])
    raise DecodeError(f"shard {value!r} is not [id, count] or null")
