"""SIGINT and SIGTERM end a long-running command cleanly, and its exit code says which
(128 + the signal: 130 for Ctrl-C, 143 for SIGTERM), as a shell expects."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from types import TracebackType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While entered (in a running event loop), SIGINT and SIGTERM set `stop`; the first
    one is kept in `signum`. Where the loop cannot take signal handlers (not the main
    thread), nothing is installed and Python's default handling stays."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.signum: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> StopSignals:
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            for signum in STOP_SIGNALS:
                self._loop.add_signal_handler(signum, self._caught, signum)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._loop is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                for signum in STOP_SIGNALS:
                    self._loop.remove_signal_handler(signum)

    def exit_code(self, otherwise: int) -> int:
        """128 + the signal that stopped the command, or `otherwise` if none did."""
        return otherwise if self.signum is None else 128 + self.signum

    def _caught(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self.stop.set()
