"""A capture file as the timeline's records: decoded messages plus the open and close lines.

The capture reader (capture/reader.py) yields payloads only; the connection lines it
consumes are what the timeline is made of. So the file is read twice: once for the few
`open`/`close` lines (a substring test skips every frame line), once through the reader,
whose errors (file, frame, byte) are the ones the user sees. The two are merged by line
number, so the builder sees the file's order exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from birbctl.capture.header import CaptureHeader, parse_header, parse_shard
from birbctl.capture.reader import read_capture
from birbctl.capture.stream import iter_lines
from birbctl.errors import ConfigError, DecodeError
from birbctl.report.timeline import Closed, Opened, Record, Timeline, build_timeline

_OPEN, _CLOSE = b'"open"', b'"close"'
#: Unix seconds before 1970 or past year 5000 are no recording's (and no date can show them).
MAX_TIME = 1e11


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    """What the page says about the file itself (from its header line)."""

    name: str
    created: str | None
    gateway: str | None  # scheme://host:port/path only: no query, no user info
    encoding: str
    compress: str | None


def read_timeline(name: str) -> tuple[Timeline, CaptureInfo]:
    """The timeline of capture file `name`; DecodeError (located) for what does not read."""
    path = Path(name)
    if str(name) == "-":
        raise ConfigError("report reads a capture file (it reads the file twice), not stdin")
    headers: list[CaptureHeader] = []
    try:
        timeline = build_timeline(_records(path, headers))
    except DecodeError as exc:
        raise exc.located(file=name) from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    header = headers[0]
    info = CaptureInfo(
        name=path.name,
        created=header.created,
        gateway=_bare_url(header.url),
        encoding=header.encoding.value,
        compress=header.compress.query_value,
    )
    return timeline, info


def _bare_url(url: str | None) -> str | None:
    """The gateway's address without anything that could carry a credential."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in ("ws", "wss", "http", "https"):
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{'' if port is None else f':{port}'}{parts.path}"


def _records(path: Path, headers: list[CaptureHeader]) -> Iterator[Record]:
    """Messages and connection lines in file order (by byte offset). A plain merge: the
    connection lines are few, the messages many, and this loop runs once per message."""
    lines = _connection_lines(path, headers)
    waiting = next(lines, None)
    with path.open("rb") as fh:
        for message in read_capture(fh):
            offset = message.offset or 0
            while waiting is not None and waiting[1] < offset:
                yield _in_range(*waiting)
                waiting = next(lines, None)
            t = message.ts
            if t is not None and not 0 <= t <= MAX_TIME:
                raise DecodeError(f"time {t!r} is out of range", frame=message.frame, offset=offset)
            yield message
    while waiting is not None:
        yield _in_range(*waiting)
        waiting = next(lines, None)


def _in_range(number: int, offset: int, record: Opened | Closed) -> Opened | Closed:
    if not 0 <= record.t <= MAX_TIME:
        raise DecodeError(f"time {record.t!r} is out of range", frame=number, offset=offset)
    return record


def _connection_lines(
    path: Path, headers: list[CaptureHeader]
) -> Iterator[tuple[int, int, Opened | Closed]]:
    """(line number, byte offset, record) for each well-formed open and close line, in
    file order. Anything malformed is left for the reader, which says where it is."""
    with path.open("rb") as fh:
        header = None
        for number, offset, line in iter_lines(fh):
            if number == 1:
                try:
                    header = parse_header(line)
                except DecodeError:
                    return  # the reader says why
                headers.append(header)
                continue
            if _OPEN not in line and _CLOSE not in line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            record = _connection_record(event, header.shard if header else None)
            if record is not None:
                yield number, offset, record


def _connection_record(event: object, default: tuple[int, int] | None) -> Opened | Closed | None:
    if not isinstance(event, dict):
        return None
    kind, conn, ts = event.get("kind"), event.get("conn"), event.get("t")
    if type(conn) is not int or not isinstance(ts, int | float) or kind not in ("open", "close"):
        return None
    t = float(ts)
    if kind == "open":
        try:  # an open line without one belongs to the header's shard
            shard = parse_shard(event["shard"]) if "shard" in event else default
        except DecodeError:
            return None
        return Opened(t, conn, shard)
    code, direction, reason = event.get("code"), event.get("dir"), event.get("data")
    if code is not None and type(code) is not int:
        code = None
    if direction not in ("send", "recv"):
        return None
    return Closed(t, conn, direction, code, reason if isinstance(reason, str) else "")
