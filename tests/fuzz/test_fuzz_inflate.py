"""zlib-stream and zstd-stream frames through birbctl's inflaters: random frame splits
(which must not change the bytes out), bit flips, truncations, splices, and bombs."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import zlib

import pytest
from fuzzkit import (
    Failures,
    examples,
    fuzz_settings,
    mutated_sessions,
    pack_frames,
    split_randomly,
)
from fuzzseeds import zlib_sessions, zstd_sessions
from fuzztargets import run_zlib, run_zstd
from hypothesis import given
from hypothesis import strategies as st

from birbctl.errors import InflateError
from birbctl.transport.inflate import ZlibStreamInflater, ZstdStreamInflater, _zstd_module

SESSIONS = {"zlib": zlib_sessions, "zstd": zstd_sessions}
INFLATERS = {"zlib": ZlibStreamInflater, "zstd": ZstdStreamInflater}
RUNNERS = {"zlib": run_zlib, "zstd": run_zstd}


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
def test_random_splits_inflate_to_the_same_bytes(kind: str) -> None:
    """A connection's bytes cut into frames anywhere: the same inflated bytes come out."""
    rng = random.Random(f"splits:{kind}")
    for session in SESSIONS[kind]():
        whole = INFLATERS[kind]()
        expected = b"".join(whole.feed(f) or b"" for f in session)
        assert expected
        for _ in range(examples(40)):
            inflater = INFLATERS[kind]()
            pieces = split_randomly(b"".join(session), rng)
            out = b"".join(inflater.feed(piece) or b"" for piece in pieces)
            assert out == expected


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
def test_mutated_split_frames(kind: str) -> None:
    """Bit flips, inserts, deletes, duplicated chunks, truncation and splices of real
    sessions, cut into random frames: InflateError or bytes, never anything else."""
    failures = Failures(kind)
    rng = random.Random(f"mutate:{kind}")
    for frames in mutated_sessions(SESSIONS[kind](), examples(80), rng):
        data = pack_frames(frames)
        failures.run(data, lambda d=data: RUNNERS[kind](d))  # type: ignore[misc]
    failures.check()


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
@fuzz_settings(200)
@given(data=st.data())
def test_hypothesis_frames(kind: str, data: st.DataObject) -> None:
    """Frames that start as a real session's or as random bytes, then get cut."""
    sessions = SESSIONS[kind]()
    base = data.draw(st.sampled_from(sessions) | st.lists(st.binary(max_size=40), max_size=4))
    frames = list(base)
    if frames and data.draw(st.booleans()):  # type: ignore[arg-type]
        i = data.draw(st.integers(0, len(frames) - 1))
        cut = data.draw(st.integers(0, len(frames[i])))
        frames[i] = frames[i][:cut] + data.draw(st.binary(max_size=8))
    RUNNERS[kind](pack_frames(frames))


def _zstd_frame(data: bytes) -> bytes:
    return bytes(_zstd_module().compress(data))


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
def test_bombs_stop_at_the_cap(kind: str) -> None:
    """8 MiB of zeros in a few KiB: a 1 MiB cap ends it with InflateError, fast."""
    bomb = b"\x00" * (8 << 20)
    if kind == "zlib":
        comp = zlib.compressobj()
        frame = comp.compress(bomb) + comp.flush(zlib.Z_SYNC_FLUSH)
    else:
        frame = _zstd_frame(bomb)
    for frames in ([frame], split_randomly(frame, random.Random(7))):
        inflater = INFLATERS[kind](1 << 20)
        with pytest.raises(InflateError, match="cap"):
            for piece in frames:
                inflater.feed(piece)


_BOMB_UNDER_CAP = """
import resource, sys, zlib, tempfile, os
resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
from birbctl.capture.sources import iter_messages
from birbctl.errors import BirbError
from birbctl.transport.inflate import ZstdStreamInflater, _zstd_module
kind = sys.argv[1]
bomb = b"\\x00" * (160 << 20)
if kind == "zlib":
    c = zlib.compressobj(9)
    data = c.compress(bomb) + c.flush(zlib.Z_SYNC_FLUSH)
else:
    data = bytes(_zstd_module().compress(bomb))
del bomb
path = os.path.join(tempfile.mkdtemp(), "bomb")
open(path, "wb").write(data)
try:
    if kind == "zlib":
        list(iter_messages(path))  # what `birbctl decode` does
    else:  # the raw-file reader is quadratic in zstd message size (a known defect)
        ZstdStreamInflater().feed(data)
except BirbError as exc:
    print("clean:", exc)
"""


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
def test_bomb_past_the_default_cap_under_a_memory_limit(kind: str) -> None:
    """A 160 MiB message (past the 128 MiB default cap) with the address space capped at
    1.5 GiB: one clean error, without running out of memory."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_BOMB_UNDER_CAP), kind],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert result.stdout.startswith(b"clean:") and b"cap" in result.stdout, result.stdout
