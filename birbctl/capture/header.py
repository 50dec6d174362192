"""The capture file's first line (docs/capture-format.md): what a reader needs to replay frames."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from birbctl.errors import DecodeError

FORMAT = "birbctl-capture"
VERSION = 1
ENCODINGS = ("json", "etf")
COMPRESSIONS = (None, "zlib-stream", "zstd-stream")


@dataclass(frozen=True, slots=True)
class CaptureHeader:
    url: str | None
    encoding: str
    compress: str | None
    shard: tuple[int, int] | None
    created: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "created": self.created or datetime.now(UTC).isoformat(timespec="milliseconds"),
            "url": self.url,
            "encoding": self.encoding,
            "compress": self.compress,
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
    encoding, compress = obj.get("encoding"), obj.get("compress")
    if encoding not in ENCODINGS:
        raise DecodeError(f"bad capture header: encoding {encoding!r} is not json or etf")
    if compress not in COMPRESSIONS:
        raise DecodeError(
            f"bad capture header: compress {compress!r} is not zlib-stream, zstd-stream or null"
        )
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


def parse_shard(value: Any) -> tuple[int, int] | None:
    """A `shard` field (header, or an open event): [id, count] or null."""
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and all(type(n) is int for n in value):
        return (value[0], value[1])
    raise DecodeError(f"shard {value!r} is not [id, count] or null")
