"""The one nesting limit for decoded messages, and the error every path raises past it.

orjson's `dumps` stops at 254 levels and its `loads` at 1024, the ETF decoder at 512
headers: without one limit a message could decode and then fail on output. 254 is what
every output can write (Discord's payloads nest about 10 deep). Checking the depth of
every message would cost a walk over it, so the limit is enforced where it is free: the
ETF decoder's own depth count, orjson's own limits (its recursion error on output is the
signal that a message may be too deep; only then is it walked), and the ETF encoder's
depth count. Every list and object counts as a level, empty ones too, as orjson counts.
"""

from __future__ import annotations

from typing import Any

from birbctl.errors import DecodeError

#: Deepest nesting of lists and objects a decoded message may have.
MAX_DEPTH = 254


class NestingError(DecodeError):
    """A message nests deeper than MAX_DEPTH. Located at the start of its message (frame
    or line), whichever path found it, so every output reports the same place."""

    def __init__(
        self, *, offset: int | None = None, frame: int | None = None, file: str | None = None
    ) -> None:
        super().__init__(
            f"nested deeper than {MAX_DEPTH} levels", offset=offset, frame=frame, file=file
        )


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests lists/tuples/dicts deeper than `limit` (iterative: safe at
    any depth; stops as soon as it knows)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, level = pop()
        cls = type(node)
        if cls is dict:
            children: Any = node.values()
        elif cls is list or cls is tuple:
            children = node
        else:
            continue
        if level > limit:
            return True
        for child in children:
            kind = type(child)
            if kind is dict or kind is list or kind is tuple:
                push((child, level + 1))
    return False
