"""Shared fixtures: where the real-gateway vectors live, and stream builders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from birbctl.transport.deflate import ZlibStreamDeflater, ZstdStreamDeflater

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"


@pytest.fixture
def vectors() -> Path:
    """../shared/vectors (real gateway bytes); tests that need it skip when absent."""
    if not VECTORS.is_dir():
        pytest.skip("../shared/vectors is not here")
    return VECTORS


def load_expected(path: Path) -> Any:
    return json.loads(path.read_text())


def zlib_stream(messages: list[bytes]) -> list[bytes]:
    """Frames as Discord sends them: one deflate context, a sync flush per message."""
    deflater = ZlibStreamDeflater()
    return [deflater.frame(m) for m in messages]


def zstd_stream(messages: list[bytes], *, frame_per_message: bool = False) -> list[bytes]:
    """zstd-stream frames: one context, each message flushed (the zstd frame never ends),
    or, as some servers do, a whole zstd frame per message."""
    deflater = ZstdStreamDeflater(frame_per_message=frame_per_message)
    return [deflater.frame(m) for m in messages]


@pytest.fixture
def make_zlib_stream() -> Callable[[list[bytes]], list[bytes]]:
    return zlib_stream


@pytest.fixture
def make_zstd_stream() -> Callable[..., list[bytes]]:
    return zstd_stream
