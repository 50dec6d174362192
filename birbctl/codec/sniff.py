"""Guess what a file holds from its first bytes, so `decode FILE` needs no flags."""

from __future__ import annotations

from typing import Literal

from birbctl.protocol.wire import ETF_VERSION

Format = Literal["etf", "json", "jsonl", "zlib-stream", "zstd-stream", "capture", "har"]

FORMATS: tuple[Format, ...] = (
    "etf",
    "json",
    "jsonl",
    "zlib-stream",
    "zstd-stream",
    "capture",
    "har",
)

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def sniff(head: bytes) -> Format | None:
    """The format of a file that starts with `head` (a few KiB), or None."""
    if not head:
        return None
    first = head[0]
    if first == ETF_VERSION:
        return "etf"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd-stream"
    if first == 0x78 and len(head) > 1 and (first * 256 + head[1]) % 31 == 0:
        return "zlib-stream"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0]
        if b'"birbctl-capture"' in first_line:
            return "capture"
        if text[1:].lstrip().startswith(b'"log"'):
            return "har"
        if b"\n" in text.rstrip() and first_line.rstrip().endswith(b"}"):
            return "jsonl"
        return "json"
    if text.startswith(b"["):
        return "json"
    return None
