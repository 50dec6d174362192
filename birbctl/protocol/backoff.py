"""Reconnect delays: exponential, jittered, capped, counted over consecutive failures.

Jitter keeps many shards (or many users of one emulator) from reconnecting in step;
the cap keeps a long outage from turning into hour-long waits.
"""

from __future__ import annotations

import random
from typing import Literal

from birbctl.errors import ConfigError

Jitter = Literal["full", "equal"]


class Backoff:
    """`next_delay()` for attempt n (0-based since the last healthy connection).

    Attempt 0 is immediate: a connection that was READY and then dropped deserves a
    quick resume. Attempt n >= 1 waits up to `min(cap, base * factor ** (n - 1))`:
    all of it random with full jitter, or half fixed and half random with equal jitter
    (which keeps a floor, so repeated failures really do slow down).
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        base: float = 1.0,
        factor: float = 2.0,
        cap: float = 60.0,
        jitter: Jitter = "equal",
    ) -> None:
        if not base > 0:
            raise ConfigError(f"backoff base must be positive, got {base}")
        if not factor >= 1:
            raise ConfigError(f"backoff factor must be at least 1, got {factor}")
        if not cap >= base:
            raise ConfigError(f"backoff cap ({cap}) must be at least the base ({base})")
        if jitter not in ("full", "equal"):
            raise ConfigError(f"backoff jitter must be 'full' or 'equal', got {jitter!r}")
        self._rng = rng
        self.base = base
        self.factor = factor
        self.cap = cap
        self.jitter: Jitter = jitter
        self.failures = 0

    def ceiling(self, attempt: int) -> float:
        """The most attempt `attempt` may wait."""
        if attempt <= 0:
            return 0.0
        # Compare exponents rather than computing factor ** n, which overflows.
        raw = self.base
        for _ in range(attempt - 1):
            raw *= self.factor
            if raw >= self.cap:
                return self.cap
        return min(raw, self.cap)

    def next_delay(self) -> float:
        """The delay before the next attempt; counts the attempt."""
        ceiling = self.ceiling(self.failures)
        self.failures += 1
        if ceiling <= 0:
            return 0.0
        if self.jitter == "full":
            return self._rng.uniform(0.0, ceiling)
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0
