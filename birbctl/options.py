"""The closed sets the commands' own options offer, and the defaults every layer shares.

The connection's sets (Encoding, Compression, Direction) are in protocol/wire.py; these
are the shapes of output. Each value is the word the command line takes, so typer lists
them in `--help` and completion and refuses anything else with a usage error (exit 2).
This module imports nothing but `enum`: the CLI builds its options from it at start-up.
"""

from __future__ import annotations

import enum

#: Where GET /gateway/bot is asked unless --api-url (or BIRBCTL_API_URL) says otherwise.
DEFAULT_API_URL = "https://discord.com/api/v10"


class TailFormat(enum.StrEnum):
    """`tail --format`: how each live packet is printed."""

    LINE = "line"  # time, direction, op, event, seq, size and a compact body
    JSONL = "jsonl"  # {ts, dir, shard, op, t, s, d} a line: what `decode` prints
    RAW = "raw"  # the inflated message as the gateway sent it (ETF as base64)


class DecodeOutput(enum.StrEnum):
    """`decode --to`: what decoded messages become on stdout."""

    JSONL = "jsonl"
    JSON = "json"
    PRETTY = "pretty"
    ETF = "etf"


class EncodeOutput(enum.StrEnum):
    """`encode --to`: ETF terms, or compact JSON a line."""

    ETF = "etf"
    JSON = "json"


class EtfStyle(enum.StrEnum):
    """How ETF is written: as a client must send it, or as the gateway sends it."""

    CLIENT = "client"  # string keys
    SERVER = "server"  # atom keys, snowflakes as integers


class SourceFormat(enum.StrEnum):
    """`decode --from`: what a file holds, when its first bytes should not decide."""

    CAPTURE = "capture"
    HAR = "har"
    ETF = "etf"
    JSON = "json"
    JSONL = "jsonl"
    ZLIB_STREAM = "zlib-stream"
    ZSTD_STREAM = "zstd-stream"
