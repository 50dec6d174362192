"""Replays every committed corpus case (tests/fuzz/corpus/<parser>/<name>.bin) through
its parser's contract check, every run. A case for a known, still open defect is marked
xfail here (not strict: it passes once the fix lands, then its entry can go)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fuzzkit import CORPUS
from fuzztargets import RUNNERS

#: corpus path (relative to corpus/) -> why it still fails: open defects only (none now;
#: every case found so far is fixed and replays as a regression test).
KNOWN: dict[str, str] = {}


def _cases() -> list[Any]:
    cases: list[Any] = []
    for path in sorted(CORPUS.glob("*/*.bin")):
        name = path.relative_to(CORPUS).as_posix()
        marks = [pytest.mark.xfail(strict=False, reason=KNOWN[name])] if name in KNOWN else []
        cases.append(pytest.param(path, id=name, marks=marks))
    return cases


@pytest.mark.parametrize("path", _cases())
def test_corpus_case(path: Path) -> None:
    RUNNERS[path.parent.name](path.read_bytes())


def test_corpus_is_small_and_known() -> None:
    """Every corpus folder has a parser, every file is small, every KNOWN entry exists."""
    for folder in CORPUS.iterdir():
        if folder.is_dir():
            assert folder.name in RUNNERS, f"corpus/{folder.name} has no runner"
    for path in CORPUS.glob("*/*.bin"):
        assert path.stat().st_size <= 16 * 1024, f"{path} is over 16 KiB"
    for name in KNOWN:
        assert (CORPUS / name).is_file(), f"KNOWN lists missing corpus/{name}"
