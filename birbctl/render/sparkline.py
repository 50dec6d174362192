"""Unicode sparklines: a ping history in one line of text, so every shard gets one."""

from __future__ import annotations

from collections.abc import Sequence

#: Eight levels, lowest first (U+2581 to U+2588).
BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int | None = None) -> str:
    """The last `width` values as blocks scaled between their own min and max.

    Scaling to the window shown (not to zero) makes jitter of a few ms visible on a
    loopback link; the caller prints the min and max next to it so the scale is known.
    A flat series is drawn at the lowest level.
    """
    if width is not None:
        if width <= 0:
            return ""
        values = values[-width:]
    if not values:
        return ""
    low = min(values)
    high = max(values)
    span = high - low
    top = len(BLOCKS) - 1
    if span <= 0:
        return BLOCKS[0] * len(values)
    return "".join(BLOCKS[round((v - low) / span * top)] for v in values)


def window(values: Sequence[float], width: int) -> list[float]:
    """The values a sparkline of `width` shows, for its min/max labels."""
    return list(values[-width:]) if width > 0 else []
