"""`--debug` / `-v` works before or after the command name, for every command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import birbctl, one_line_error

from birbctl.cli.app import app

# A call of each command that fails with a BirbError before doing anything real.
FAILING = {
    "demo": ["--record", "/nonexistent/dir/x.cap", "--duration", "1"],
    "connect": ["--shard", "0/2", "--shards", "2"],
    "tail": ["--op", "nope"],
    "status": [],
    "ping": [],
    "reconnect": [],
    "terminate": [],
    "close": ["--code", "1000"],
    "gateway": [],
    "decode": ["/nonexistent/capture"],
    "encode": ["/nonexistent/file.json"],
    "serve": ["--host", "0.0.0.0"],
    "proxy": ["--listen", "0.0.0.0:0"],
    "report": ["/nonexistent/capture", "-o", "page.html"],
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "BIRBCTL_DEBUG")}
    return {**clean, "XDG_RUNTIME_DIR": str(tmp_path)}


def test_every_command_is_covered() -> None:
    names = {info.name for info in app.registered_commands}
    assert names == set(FAILING)


@pytest.mark.parametrize("command", sorted(FAILING))
def test_debug_after_the_command_shows_the_traceback(env: dict[str, str], command: str) -> None:
    result = birbctl(command, *FAILING[command], "--debug", env=env)
    err = result.stderr.decode()
    assert result.returncode in (1, 2), err
    assert "Traceback" in err, err
    assert err.rstrip("\n").splitlines()[-1].startswith("birbctl: error: "), err


@pytest.mark.parametrize("where", ["before", "after"])
def test_short_flag_either_side(env: dict[str, str], where: str) -> None:
    args = ["decode", "/nonexistent/capture"]
    args = ["-v", *args] if where == "before" else [*args, "-v"]
    assert "Traceback" in birbctl(*args, env=env).stderr.decode()


def test_without_debug_one_line(env: dict[str, str]) -> None:
    one_line_error(birbctl("decode", "/nonexistent/capture", env=env), code=2)
