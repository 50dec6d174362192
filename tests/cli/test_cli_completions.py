"""completions/ holds the shell scripts typer generates; they must match the current CLI,
and completing through them must work (and stay quick: no heavy import at start-up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELLS = {"bash": "birbctl.bash", "zsh": "_birbctl", "fish": "birbctl.fish"}
HEAVY = ("websockets", "rich.live", "orjson", "birbctl.emulator", "birbctl.client")


def run(env: dict[str, str], code: str = "from birbctl.cli.app import main; main()") -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.stdout


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_completion_scripts_are_current(shell: str) -> None:
    generated = run({"_BIRBCTL_COMPLETE": f"source_{shell}"})
    path = ROOT / "completions" / SHELLS[shell]
    if os.environ.get("BIRBCTL_UPDATE_COMPLETIONS"):
        path.write_text(generated)
    assert generated.strip(), "typer generated nothing"
    assert path.read_text() == generated, f"regenerate with BIRBCTL_UPDATE_COMPLETIONS=1 ({shell})"


def complete(words: str) -> list[str]:
    cword = str(len(words.split()) - 1)
    env = {"_BIRBCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
    return run(env).split()


def test_bash_completion_completes_commands_and_options() -> None:
    assert complete("birbctl de") == ["demo", "decode"]
    assert complete("birbctl tail --enc") == ["--encoding"]


def test_startup_imports_nothing_heavy() -> None:
    code = (
        "import sys; import birbctl.cli.app; "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert run({}, code).strip() == ""
