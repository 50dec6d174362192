"""Ending the asyncio tasks we started: cancelled, then awaited, so that none outlives
its owner and none is left pending when the loop closes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task, then wait for each to end. What a task raised is dropped: it was
    being ended, and its owner already knows why (or is itself ending on an error)."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
