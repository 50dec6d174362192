"""Writing the page whole or not at all: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from birbctl.errors import BirbError


class ReportWriteError(BirbError):
    """The page cannot be written (no such directory, no permission, disk full)."""


def write_atomically(name: str, text: str) -> None:
    """Replace `name` with `text`: readers see the old file or the new one, never a part,
    and a failure leaves no temporary file behind."""
    target = Path(name)
    if target.is_dir():
        raise ReportWriteError(f"cannot write {name}: is a directory")
    folder = target.parent
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ReportWriteError(f"cannot write {name}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # an ordinary file, as `>` would have made it
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise ReportWriteError(f"cannot write {name}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
