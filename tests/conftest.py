"""Shared fixtures: where the real-gateway vectors live, and stream builders."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
    compressor = zlib.compressobj()
    return [compressor.compress(m) + compressor.flush(zlib.Z_SYNC_FLUSH) for m in messages]


def zstd_stream(messages: list[bytes], *, frame_per_message: bool = False) -> list[bytes]:
    """zstd-stream frames: one context, each message flushed (the zstd frame never ends),
    or, as some servers do, a whole zstd frame per message."""
    from backports import zstd

    if frame_per_message:
        return [zstd.compress(m) for m in messages]
    compressor = zstd.ZstdCompressor()
    return [compressor.compress(m, mode=zstd.ZstdCompressor.FLUSH_BLOCK) for m in messages]


@pytest.fixture
def make_zlib_stream() -> Callable[[list[bytes]], list[bytes]]:
    return zlib_stream


@pytest.fixture
def make_zstd_stream() -> Callable[..., list[bytes]]:
    return zstd_stream
