"""One line per packet: time, direction, op, event, seq, size, then the body in colour.

The body is compact JSON cut at a fixed length: a GUILD_CREATE can be megabytes, and a
one-line view is for scanning, not reading (`--to jsonl` gives everything).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.text import Text

from birbctl.capture.message import ErrorHandler, Message, report
from birbctl.capture.stats import op_name
from birbctl.codec.depth import MAX_DEPTH, NestingError, depth_exceeds

BODY_LIMIT = 400

_highlight = JSONHighlighter()
_ARROWS = {"send": ("→", "bold cyan"), "recv": ("←", "bold green")}


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1000
    return f"{size:.1f}GB"  # pragma: no cover


def _body(message: Message) -> str:
    """The compact body; NestingError for a message past MAX_DEPTH, as every output."""
    payload = message.payload
    d = payload.get("d") if isinstance(payload, dict) else payload
    try:
        text = orjson.dumps(d, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        if depth_exceeds(payload):
            raise NestingError(frame=message.frame, offset=message.offset) from None
        text = repr(d)
    else:
        # `d` is one level under the payload, and JSON takes 2 bytes a level: only a long
        # body, or other members that nest, can hide a payload past the limit.
        if (len(text) >= 2 * (MAX_DEPTH - 1) or _others_nest(payload)) and depth_exceeds(payload):
            raise NestingError(frame=message.frame, offset=message.offset)
    return text if len(text) <= BODY_LIMIT else text[: BODY_LIMIT - 1] + "…"


def _others_nest(payload: Any) -> bool:
    if type(payload) is not dict:
        return False
    return any(type(v) in (dict, list) for k, v in payload.items() if k != "d")


def packet_line(message: Message) -> Text:
    if message.ts is not None:
        when = datetime.fromtimestamp(message.ts).strftime("%H:%M:%S.%f")[:-3]
    else:
        when = f"#{message.frame}".rjust(12)
    arrow, arrow_style = _ARROWS.get(message.direction or "", ("·", "dim"))
    op = message.op
    name = op_name(op)
    seq = message.s
    body = Text(_body(message))
    _highlight.highlight(body)
    shard = message.shard
    # Several shards in one stream (tail --shards N, a capture of them): say whose.
    where = f"[{shard[0]}] " if shard is not None and shard[1] > 1 else ""
    line = Text.assemble(
        (when, "dim"),
        " ",
        (where, "cyan"),
        (arrow, arrow_style),
        " ",
        (f"{name:<15}", "bold yellow" if op == 0 else "bold"),
        " ",
        (f"{message.t or '-':<22}", "magenta"),
        " ",
        (f"{'s=' + str(seq) if seq is not None else '':<9}", "blue"),
        " ",
        (f"{human_size(message.size):>7}", "dim"),
        "  ",
        body,
        no_wrap=True,
        overflow="ellipsis",
    )
    return line


def print_packets(
    messages: Iterable[Message], console: Console, *, on_error: ErrorHandler = None
) -> None:
    for message in messages:
        try:
            line = packet_line(message)
        except NestingError as exc:
            report(on_error, exc)
            continue
        console.print(line)
