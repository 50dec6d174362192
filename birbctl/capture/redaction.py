"""Tokens never reach a capture file: sent frames are decoded, redacted, re-encoded.

A capture keeps frames as they went over the wire, so a sent IDENTIFY or RESUME holds the
bot token. Sends are never compressed, so each can be decoded on its own; one that cannot
be decoded might still hold a token, and is recorded as a marker instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from birbctl.errors import DecodeError
from birbctl.protocol.payloads import REDACTED, redact
from birbctl.protocol.wire import ETF_VERSION

_ETF_FIRST = bytes((ETF_VERSION,))

#: Query parameters that could carry a credential if one were ever put in a URL.
_SECRET_PARAMS = frozenset({"token", "access_token", "auth", "authorization", "password"})


def _holds_token(payload: Any) -> bool:
    d = payload.get("d") if isinstance(payload, dict) else None
    return isinstance(d, dict) and "token" in d and d["token"] != REDACTED


def redact_sent_frame(data: bytes | str) -> bytes | str | None:
    """The frame with `d.token` replaced, in its own encoding; `data` itself when it holds
    no token; None when it cannot be decoded (the caller records a marker)."""
    try:
        if isinstance(data, str):
            payload = orjson.loads(data)
        elif data[:1] == _ETF_FIRST:
            from birbctl.codec.etf import decode_etf

            payload = decode_etf(data)  # integers stay integers, so re-encoding is faithful
        else:
            payload = orjson.loads(data)
        if not _holds_token(payload):
            return data
        redacted = redact(payload)
        if isinstance(data, str):
            return orjson.dumps(redacted).decode()
        if data[:1] == _ETF_FIRST:
            from birbctl.codec.etf import encode_etf

            return encode_etf(redacted)
        return orjson.dumps(redacted)
    except (DecodeError, orjson.JSONDecodeError, TypeError, ValueError):
        return None


def redact_url(url: str | None) -> str | None:
    """A URL fit to record: no password in it, no token-like query values."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
                query = urlencode(
                    [(k, REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in pairs],
                    safe="-[]",
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return REDACTED
