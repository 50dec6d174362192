"""Strict base64 decoding of capture frames: a C fast path when it was built, binascii
otherwise. Both raise ValueError (binascii.Error is one) on anything not strict base64;
the C one may refuse a few inputs binascii accepts, so callers that can fall back to
binascii do (the capture reader does)."""

from __future__ import annotations

import binascii
from collections.abc import Callable


def _binascii(data: bytes) -> bytes:
    return binascii.a2b_base64(data, strict_mode=True)


b64decode: Callable[[bytes], bytes]
try:
    from birbctl.capture._b64_c import b64decode as b64decode  # type: ignore[import-not-found,no-redef,unused-ignore]

    HAVE_C_B64 = True
except ImportError:  # no C compiler when birbctl was installed
    b64decode = _binascii
    HAVE_C_B64 = False
