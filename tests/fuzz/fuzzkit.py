"""What every fuzz test shares: the per-case bounds, the example counts, a small
deterministic mutator, the seed inputs and the corpus layout.

The contract checked everywhere: a parser fed untrusted bytes ends in a result or in a
`BirbError` with a message, within a time and memory bound. Anything else (another
exception, a crash, a hang) is a bug in birbctl, and the case is worth keeping in the
corpus (tests/fuzz/corpus/<parser>/<name>.bin), which test_fuzz_corpus.py replays.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import resource
import signal
import struct
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from birbctl.errors import BirbError

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REPO = HERE.parents[1]
VECTORS = REPO.parent / "shared" / "vectors"
EXAMPLES_DIR = REPO / "examples"

#: BIRBCTL_FUZZ_EXAMPLES=N runs N examples per hypothesis test and N mutations per seed,
#: randomized (a local soak); unset, CI runs the small fixed counts below, derandomized.
_SOAK = int(os.environ.get("BIRBCTL_FUZZ_EXAMPLES", "0") or 0)
#: Wall-clock seconds one case may take; a generous CPU-time hard stop ends a hang.
CASE_SECONDS = float(os.environ.get("BIRBCTL_FUZZ_CASE_SECONDS", "2.0"))
HARD_CPU_SECONDS = 10 * CASE_SECONDS
#: Peak-RSS growth one case may cause (ru_maxrss only rises, so this bounds new peaks).
CASE_RSS_BYTES = 256 * 1024 * 1024

T = TypeVar("T")


def examples(default: int) -> int:
    return _SOAK or default


def fuzz_settings(default: int) -> settings:
    """Per-test hypothesis settings: fixed and derandomized in CI, longer and random in a
    soak. Deadline is off: the bound is `bounded()`, which also catches memory."""
    return settings(
        max_examples=examples(default),
        derandomize=not _SOAK,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


def vectors() -> Path:
    if not VECTORS.is_dir():
        pytest.skip("shared vectors not beside the repo: ../shared/vectors")
    return VECTORS


# --- the bounds ---------------------------------------------------------------------------


class CaseTimeout(BaseException):
    """A case used more than HARD_CPU_SECONDS of CPU: a hang. A BaseException so that
    no `except Exception` inside birbctl swallows it."""


def _on_cpu_alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout(f"case still running after {HARD_CPU_SECONDS:g} s of CPU")


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@contextlib.contextmanager
def bounded(what: str = "case") -> Iterator[None]:
    """Fail a case that takes over CASE_SECONDS or raises the peak RSS by more than
    CASE_RSS_BYTES. The CPU-time timer (SIGVTALRM, not pytest-timeout's SIGALRM) stops
    a runaway loop instead of waiting for the whole test's timeout."""
    previous = signal.signal(signal.SIGVTALRM, _on_cpu_alarm)
    signal.setitimer(signal.ITIMER_VIRTUAL, HARD_CPU_SECONDS)
    rss = _max_rss()
    start = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
    elapsed = time.perf_counter() - start
    grown = _max_rss() - rss
    assert elapsed <= CASE_SECONDS, f"{what}: took {elapsed:.2f} s (budget {CASE_SECONDS:g} s)"
    assert grown <= CASE_RSS_BYTES, f"{what}: peak RSS grew by {grown >> 20} MiB"


def check_error(exc: BirbError) -> BirbError:
    """A clean error: one line of text that says something, no Python internals."""
    text = str(exc)
    assert text.strip(), f"{type(exc).__name__} without a message"
    assert "Traceback" not in text, text
    return exc


def clean(fn: Callable[[], T], what: str = "case") -> T | BirbError:
    """Run one case under the bounds: its result, or the BirbError it raised. Any other
    exception propagates (hypothesis shrinks it; the mutation loops collect it)."""
    with bounded(what):
        try:
            return fn()
        except BirbError as exc:
            return check_error(exc)


# --- mutation fuzzing ---------------------------------------------------------------------

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x83, 0x00, 0x6A, 0x74, 0x6C, 0x7B, 0x22, 0x5B, 0x0A)
_INTERESTING32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000, 0xFFFF)


def mutate(data: bytes, rng: random.Random, others: Sequence[bytes] = ()) -> bytes:
    """1-4 random edits: bit flip, interesting byte or u32, insert, delete, duplicate a
    chunk, truncate, splice with another seed. Deterministic for a seeded `rng`."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        op = rng.randrange(9)
        n = len(buf)
        if op == 0 and n:
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[rng.randrange(n)] = rng.choice(_INTERESTING)
        elif op == 2 and n >= 4:
            i = rng.randrange(n - 3)
            buf[i : i + 4] = struct.pack(">I", rng.choice(_INTERESTING32))
        elif op == 3:
            i = rng.randrange(n + 1)
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 4 and n:
            i = rng.randrange(n)
            del buf[i : i + rng.randint(1, 16)]
        elif op == 5 and n:
            i = rng.randrange(n)
            chunk = buf[i : i + rng.randint(1, 64)]
            j = rng.randrange(n + 1)
            buf[j:j] = chunk * rng.randint(1, 4)
        elif op == 6 and n:
            del buf[rng.randrange(n) :]
        elif op == 7 and others:
            other = rng.choice(others)
            if other:
                i, j = rng.randrange(n + 1), rng.randrange(len(other))
                buf[i:] = other[j:]
        elif n:
            i = rng.randrange(n)
            buf[i] = rng.randrange(256)
    return bytes(buf)


def split_randomly(data: bytes, rng: random.Random) -> list[bytes]:
    """The same bytes cut into frames at random places (empty frames included)."""
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 6)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


class Failures:
    """Inputs that broke the contract in a mutation loop: kept, then reported at once
    (the first traceback in full) and written where the corpus can pick them up."""

    def __init__(self, parser: str) -> None:
        self.parser = parser
        self.found: list[tuple[bytes, str]] = []

    def run(self, data: bytes, fn: Callable[[], object]) -> None:
        try:
            clean(fn, f"{self.parser} case")
        except CaseTimeout as exc:
            self.found.append((data, f"CaseTimeout: {exc}"))
        except Exception:
            self.found.append((data, traceback.format_exc(limit=-4)))

    def check(self) -> None:
        if not self.found:
            return
        out = Path(os.environ.get("BIRBCTL_FUZZ_SAVE", "/tmp/birbctl-fuzz-found")) / self.parser
        out.mkdir(parents=True, exist_ok=True)
        for index, (data, _tb) in enumerate(self.found):
            (out / f"found-{index:03d}.bin").write_bytes(data)
        first, tb = self.found[0]
        kinds = sorted({t.strip().splitlines()[-1][:120] for _d, t in self.found})
        pytest.fail(
            f"{len(self.found)} {self.parser} input(s) broke the contract (saved in {out}):\n"
            + "\n".join(kinds)
            + f"\nfirst input ({len(first)} bytes): {first[:200]!r}\n{tb}",
            pytrace=False,
        )


def mutation_rounds(
    seeds: Sequence[bytes], per_seed: int, salt: str
) -> Iterator[tuple[bytes, random.Random]]:
    """(mutated input, its rng) for every seed, `per_seed` times, seeded by `salt` so
    each test has its own fixed sequence (random in a soak run)."""
    base = random.Random(f"birbctl-fuzz:{salt}" if not _SOAK else None)
    for seed in seeds:
        for _ in range(per_seed):
            rng = random.Random(base.getrandbits(64))
            yield mutate(seed, rng, seeds), rng


def mutated_sessions(
    sessions: Sequence[Sequence[bytes]], per_session: int, rng: random.Random
) -> Iterator[list[bytes]]:
    """Each session's frames, mutated `per_session` times: half the time one frame is
    mutated and the real boundaries kept, else the whole stream is mutated and cut
    anywhere. Seeds of the splices are the sessions' own streams."""
    streams = [b"".join(s) for s in sessions]
    for session in sessions:
        for _ in range(per_session):
            if rng.random() < 0.5:
                frames = list(session)
                i = rng.randrange(len(frames))
                frames[i] = mutate(frames[i], rng, streams)
                yield frames
            else:
                yield split_randomly(mutate(b"".join(session), rng, streams), rng)


# --- frame containers (the corpus format of multi-frame inputs) --------------------------


def pack_frames(frames: Sequence[bytes]) -> bytes:
    """Frames as one corpus file: each a 4-byte big-endian length, then its bytes."""
    return b"".join(struct.pack(">I", len(f)) + f for f in frames)


def unpack_frames(data: bytes) -> list[bytes]:
    frames, i = [], 0
    while i + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, i)
        frames.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return frames
