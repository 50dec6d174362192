"""Writing to stdout the way a pipeline expects: `birbctl decode x | head` ends quietly,
and a finite input's output leaves in large writes."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

#: Bytes gathered before one write when the input is finite (a file): PYTHONUNBUFFERED=1,
#: set in many container images, otherwise makes each output line its own system call.
BLOCK = 1 << 17


@contextmanager
def stdout_pipe() -> Iterator[None]:
    """Stop writing, without an error, once the reader of stdout has gone away."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextmanager
def stdout_blocks() -> Iterator[BinaryIO]:
    """stdout for a finite input: writes gathered into BLOCK-sized ones, whatever the
    environment asks, and flushed on the way out, error or not, so nothing printed
    before an error is lost. Use inside `stdout_pipe()`: if the reader has gone, what is
    left in the buffer then goes to /dev/null."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, io.UnsupportedOperation):  # not a file (a test's capture)
        yield sys.stdout.buffer
        return
    out = open(fd, "wb", buffering=BLOCK, closefd=False)  # noqa: SIM115
    try:
        yield out
    finally:
        out.flush()
