"""JSON documents in, ETF terms or compact JSON out: the engine of `birbctl encode`.

Input is one JSON document or JSON Lines (one document a line, streamed); each document
becomes one output chunk, so a JSON Lines file of payloads encodes to a run of terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from birbctl.capture.stream import iter_lines, open_source, read_whole
from birbctl.codec.depth import NestingError, depth_exceeds
from birbctl.codec.json import decode_json
from birbctl.codec.sniff import sniff
from birbctl.errors import DecodeError
from birbctl.options import EncodeOutput, EtfStyle
from birbctl.transport.inflate import DEFAULT_MAX_MESSAGE


def iter_documents(name: str) -> Iterator[tuple[int, int, Any]]:
    """(document number from 1, its byte offset, value) for a JSON or JSON Lines file."""
    head, fh = open_source(name)
    with fh:
        kind = sniff(head)
        try:
            if kind == "jsonl":
                number = 0
                for _line, start, line in iter_lines(fh):
                    if not line.strip():
                        continue
                    number += 1
                    try:
                        yield number, start, decode_json(line)
                    except DecodeError as exc:
                        exc.offset = start + (exc.offset or 0)
                        raise exc.located(frame=number) from None
            elif kind == "json":
                try:
                    value = decode_json(read_whole(fh, DEFAULT_MAX_MESSAGE))
                except NestingError as exc:
                    raise exc.located(frame=1, offset=0) from None
                yield 1, 0, value
            else:
                raise DecodeError("not JSON or JSON Lines", offset=0)
        except DecodeError as exc:
            raise exc.located(file=name) from None


def encode_documents(name: str, *, to: EncodeOutput, style: EtfStyle) -> Iterator[bytes]:
    from birbctl.codec.etf import encode_etf

    for number, start, value in iter_documents(name):
        try:
            if to is EncodeOutput.JSON:
                yield orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
            else:
                yield encode_etf(value, style=style)
        except (TypeError, ValueError) as exc:
            # Past MAX_DEPTH neither orjson nor the ETF encoder writes it: one error for both.
            if depth_exceeds(value):
                raise NestingError(frame=number, offset=start, file=name) from None
            what = "JSON" if to is EncodeOutput.JSON else "ETF"
            raise DecodeError(f"cannot encode as {what}: {exc}", frame=number, file=name) from None
