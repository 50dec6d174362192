"""Gateway URLs: the base from GET /gateway/bot (or READY) plus our query string."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from birbctl.errors import ConfigError
from birbctl.protocol.wire import Compression, Encoding

API_VERSION = 10
_OURS = ("v", "encoding", "compress")


def build_gateway_url(
    base: str,
    *,
    encoding: Encoding | str,
    compress: Compression | str | None,
    version: int = API_VERSION,
) -> str:
    """`base` with `?v=..&encoding=..[&compress=..]`.

    Works with or without a trailing slash, and keeps any other query parameters the
    base already had (ours replace theirs). A bare host gets the `/` path Discord shows.
    """
    parts = urlsplit(base)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ConfigError(f"gateway URL must be ws:// or wss:// with a host, got {base!r}")
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _OURS]
    ours = [("v", str(version)), ("encoding", Encoding(encoding).value)]
    compress_value = Compression.of(compress).query_value
    if compress_value is not None:
        ours.append(("compress", compress_value))
    query = urlencode([*kept, *ours], safe="-")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
