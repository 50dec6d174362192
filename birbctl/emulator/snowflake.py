"""Snowflakes as Discord mints them, so clients that read creation times see real ones."""

from __future__ import annotations

import time
from collections.abc import Callable

DISCORD_EPOCH_MS = 1420070400000


def snowflake_at(ms: int, worker: int = 1, process: int = 0, increment: int = 0) -> int:
    return (
        ((ms - DISCORD_EPOCH_MS) << 22)
        | (worker & 31) << 17
        | (process & 31) << 12
        | (increment & 0xFFF)
    )


def snowflake_ms(snowflake: int) -> int:
    """Unix milliseconds the snowflake was minted at."""
    return (snowflake >> 22) + DISCORD_EPOCH_MS


class SnowflakeFactory:
    """Unique, increasing ids stamped with the wall clock (worker 1, process 0)."""

    __slots__ = ("_clock", "_increment", "_last_ms", "process", "worker")

    def __init__(
        self, worker: int = 1, process: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        self.worker = worker
        self.process = process
        self._clock = clock
        self._increment = 0
        self._last_ms = 0

    def __call__(self) -> int:
        ms = int(self._clock() * 1000)
        if ms <= self._last_ms:
            # Same millisecond (or a clock step back): keep ids unique and increasing.
            self._increment += 1
            if self._increment > 0xFFF:
                self._last_ms += 1
                self._increment = 0
            ms = self._last_ms
        else:
            self._increment = 0
            self._last_ms = ms
        return snowflake_at(ms, self.worker, self.process, self._increment)
