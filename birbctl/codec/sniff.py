"""Guess what a file holds from its first bytes, so `decode FILE` needs no flags."""

from __future__ import annotations

from birbctl.options import SourceFormat
from birbctl.protocol.wire import ETF_VERSION

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def sniff(head: bytes) -> SourceFormat | None:
    """The format of a file that starts with `head` (a few KiB), or None."""
    if not head:
        return None
    first = head[0]
    if first == ETF_VERSION:
        return SourceFormat.ETF
    if head.startswith(_ZSTD_MAGIC):
        return SourceFormat.ZSTD_STREAM
    if first == 0x78 and len(head) > 1 and (first * 256 + head[1]) % 31 == 0:
        return SourceFormat.ZLIB_STREAM
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0]
        if b'"birbctl-capture"' in first_line:
            return SourceFormat.CAPTURE
        if text[1:].lstrip().startswith(b'"log"'):
            return SourceFormat.HAR
        if b"\n" in text.rstrip() and first_line.rstrip().endswith(b"}"):
            return SourceFormat.JSONL
        return SourceFormat.JSON
    if text.startswith(b"["):
        return SourceFormat.JSON
    return None
