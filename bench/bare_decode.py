"""The floor for `birbctl decode CAPTURE --to jsonl`: the same output from the bare
libraries, in as few lines as a user would write (no birbctl import, no checks).

Reads a birbctl capture of received binary frames (docs/capture-format.md), inflates them
with one zlib or zstd context, parses JSON with orjson (ETF with erlpack, its binaries
turned into str so that orjson can write them), and writes the `{ts, dir, shard, op, t, s,
d}` lines through one 128 KiB buffer on fd 1, whatever PYTHONUNBUFFERED says: the best
a script can do, which is what birbctl is held to.

Run: python bench/bare_decode.py CAPTURE > out.jsonl
"""

from __future__ import annotations

import binascii
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson

BLOCK = 1 << 17


def _text(term: Any) -> Any:
    """erlpack's bytes (keys, strings, atoms) as str: what JSON output needs."""
    if type(term) is dict:
        return {_text(k): _text(v) for k, v in term.items()}
    if type(term) is list:
        return [_text(v) for v in term]
    if type(term) is bytes:
        return term.decode()
    if type(term) is int and not -(2**53) < term < 2**53:
        return str(term)  # a snowflake, as Discord's JSON carries it
    return term


def _parser(encoding: str) -> Callable[[bytes], Any]:
    if encoding == "json":
        return orjson.loads
    import erlpack  # type: ignore[import-not-found,unused-ignore]

    unpack = erlpack.unpack
    return lambda data: _text(unpack(data))


def _inflater(compress: str) -> Callable[[bytes], bytes]:
    if compress == "zlib-stream":
        import zlib

        return zlib.decompressobj().decompress
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
    return zstd.ZstdDecompressor().decompress  # type: ignore[no-any-return]


def decode_file(path: str, out: BinaryIO) -> int:
    """Write `path`'s received messages to `out` as JSON Lines; returns how many."""
    loads, dumps = orjson.loads, orjson.dumps
    option = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
    a2b = binascii.a2b_base64
    write = out.write
    count = 0
    with open(path, "rb", buffering=1 << 16) as fh:
        header = loads(fh.readline())
        inflate = _inflater(header["compress"])
        parse = _parser(header["encoding"])
        for line in fh:
            event = loads(line)
            if event["kind"] != "binary" or event["dir"] != "recv":
                continue
            payload = parse(inflate(a2b(event["data"])))
            write(
                dumps(
                    {
                        "ts": event["t"],
                        "dir": "recv",
                        "shard": None,
                        "op": payload.get("op"),
                        "t": payload.get("t"),
                        "s": payload.get("s"),
                        "d": payload.get("d"),
                    },
                    option=option,
                )
            )
            count += 1
    return count


def main() -> None:
    with open(sys.stdout.fileno(), "wb", buffering=BLOCK, closefd=False) as out:
        decode_file(sys.argv[1], out)


if __name__ == "__main__":
    main()
