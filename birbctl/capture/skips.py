"""`--keep-going`: count the frames that were skipped, and still fail at the end.

A script that runs `decode --keep-going` must be able to tell a clean file from a damaged
one, so skipping anything ends with exit 3 (after all the good messages were printed).
"""

from __future__ import annotations

from birbctl.errors import EXIT_UNDECODABLE, BirbError, DecodeError


class SkippedFrames(BirbError):
    """Raised after the output is complete when --keep-going skipped frames."""

    exit_code = EXIT_UNDECODABLE

    def __init__(self, count: int, first: DecodeError) -> None:
        self.count = count
        self.first = first
        noun = "frame" if count == 1 else "frames"
        super().__init__(f"skipped {count} undecodable {noun} (first: {first})")


class SkipCounter:
    """An ErrorHandler that remembers the first error and counts them all."""

    def __init__(self) -> None:
        self.count = 0
        self.first: DecodeError | None = None
        self.file: str | None = None  # the file being read, to locate errors

    def __call__(self, exc: DecodeError) -> None:
        exc.located(file=self.file)
        self.count += 1
        if self.first is None:
            self.first = exc

    def check(self) -> None:
        """Raise SkippedFrames if anything was skipped."""
        if self.first is not None:
            raise SkippedFrames(self.count, self.first)
