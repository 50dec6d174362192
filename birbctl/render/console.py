"""The one place a rich Console is built, so every command prints the same way."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console


class _PipeConsole(Console):
    """rich exits 1 when the reader of a pipe goes away; `| head` must end with 0, so the
    error goes up to the CLI's stdout_pipe() instead, like every other write."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def make_console(*, stderr: bool = False, file: TextIO | None = None) -> Console:
    """A Console for stdout (or stderr): colour and cropping on a terminal only.

    Into a pipe or a file, lines are written whole (soft wrap, no cropping at the
    80 columns rich assumes there) and without colour codes.
    """
    stream = file or (sys.stderr if stderr else sys.stdout)
    terminal = stream.isatty()
    return _PipeConsole(file=stream, highlight=False, soft_wrap=not terminal)
