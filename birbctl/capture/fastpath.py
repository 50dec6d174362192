"""Fast paths for reading capture lines: in C when it was built (`_lines_c.c`), in
Python otherwise, with the same results.

`b64decode`: strict base64. Both raise ValueError (binascii.Error is one) on anything
not strict base64; the C one may refuse a few inputs binascii accepts, so callers that
can fall back to binascii do (the capture reader does).

`recv_frame(line, tail)`: a received binary frame's line in the exact layout
CaptureWriter writes, `{"t":<number><tail><base64>"}`, as (ts, frame) without a JSON
parse; None for anything else, which the caller then parses as JSON.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

import orjson

_HEAD = b'{"t":'
_FIRST = frozenset(b"-0123456789")


def _binascii(data: bytes) -> bytes:
    return binascii.a2b_base64(data, strict_mode=True)


def _recv_frame(line: bytes, tail: bytes) -> tuple[float, bytes] | None:
    if not (line.startswith(_HEAD) and line.endswith(b'"}')) or not tail:
        return None
    cut = line.find(b",", 5)
    if cut < 6 or not line.startswith(tail, cut) or cut + len(tail) > len(line) - 2:
        return None
    number = line[5:cut]
    if not number[-1:].isdigit() or number[0] not in _FIRST:  # no whitespace around it
        return None
    try:
        ts = orjson.loads(number)  # a JSON number, as the C one reads it
        frame = b64decode(line[cut + len(tail) : -2])
    except ValueError:
        return None
    if type(ts) is int:
        ts = float(ts)
    return (ts, frame) if type(ts) is float else None


b64decode: Callable[[bytes], bytes]
recv_frame: Callable[[bytes, bytes], tuple[float, bytes] | None]
try:
    from birbctl.capture._lines_c import (  # type: ignore[import-not-found,no-redef,unused-ignore]
        b64decode as b64decode,
    )
    from birbctl.capture._lines_c import (  # type: ignore[import-not-found,no-redef,unused-ignore]
        recv_frame as recv_frame,
    )

    HAVE_C_LINES = True
except ImportError:  # no C compiler when birbctl was installed
    b64decode = _binascii
    recv_frame = _recv_frame
    HAVE_C_LINES = False
