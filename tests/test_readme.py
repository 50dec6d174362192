"""README's quick start is the contract: its test command is what CI runs, and its main
job (`birbctl demo`) really runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_quick_start_has_two_commands_and_ci_runs_the_second() -> None:
    run, test = quick_start_commands()
    assert run.endswith("pip install . && birbctl demo")
    install_and_test = test.split(" && ", 2)[2]
    assert install_and_test in (ROOT / ".ci" / "run").read_text()


def test_demo_shows_a_resume(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "birbctl", "demo", "--duration", "8", "--json"],
        capture_output=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    statuses = [r["new"] for r in records if r.get("event") == "status"]
    assert statuses[:4] == ["connecting", "identifying", "waiting_for_guilds", "ready"]
    assert "resuming" in statuses  # the scenario's op 7 at 6 s
    assert statuses[-1] == "disconnected"
    assert any(r.get("event") == "heartbeat_ack" for r in records)
