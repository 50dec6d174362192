"""One connection's heartbeat schedule: when to beat, and whether the gateway still answers.

Zombie detection counts ACKs rather than comparing times, so a fake clock that does not
move between a beat and its ACK still reads as healthy, and an extra beat (op 1, or the
user's) never makes a healthy connection look dead.
"""

from __future__ import annotations

from collections import deque

_MAX_OUTSTANDING = 32


class HeartbeatSchedule:
    """Starts at HELLO: first beat at `interval * jitter`, then every interval."""

    def __init__(self, interval_ms: float, now: float, jitter: float) -> None:
        if not interval_ms > 0:
            raise ValueError("heartbeat interval must be positive")
        self.interval = interval_ms / 1000.0
        self.next_at = now + self.interval * jitter
        self._acks = 0
        self._acks_at_last_beat: int | None = None  # None until the first scheduled beat
        self._outstanding: deque[float] = deque(maxlen=_MAX_OUTSTANDING)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    @property
    def zombie(self) -> bool:
        """The last scheduled beat went out and no ACK at all has come back since."""
        return self._acks_at_last_beat is not None and self._acks == self._acks_at_last_beat

    @property
    def acked(self) -> bool:
        """Every beat sent so far has been answered."""
        return not self._outstanding

    def beat_scheduled(self, now: float) -> None:
        """Record the scheduled beat; the next one is one interval on, never in the past."""
        self._outstanding.append(now)
        self._acks_at_last_beat = self._acks
        self.next_at += self.interval
        if self.next_at <= now:  # the driver fell behind: skip, do not burst
            self.next_at = now + self.interval

    def beat_extra(self, now: float) -> None:
        """A beat outside the schedule (op 1 from the gateway, or the user's)."""
        self._outstanding.append(now)

    def ack(self, now: float) -> float | None:
        """Count an ACK; the round trip in ms of the oldest unanswered beat, if any."""
        self._acks += 1
        if not self._outstanding:
            return None
        return max(0.0, (now - self._outstanding.popleft()) * 1000.0)
