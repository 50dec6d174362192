"""Start-up: a short command imports what its job needs and nothing else (issue 12).

Held without timing: each case runs birbctl in a fresh interpreter and lists the modules
it imported. What a command must not import is named: the other commands' modules,
rich, the network stack, the opcode tables a decode without filters does not use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import orjson
import pytest

from birbctl.capture.writer import CaptureWriter

#: Imported by no short command: the live and network side of birbctl.
NETWORK = ("asyncio", "aiohttp", "websockets", "birbctl.client", "birbctl.emulator")
#: The other commands' modules, each run's own excepted (see `others`).
COMMAND_MODULES = (
    "birbctl.cli.connect",
    "birbctl.cli.connection",
    "birbctl.cli.control",
    "birbctl.cli.decode",
    "birbctl.cli.demo",
    "birbctl.cli.encode",
    "birbctl.cli.gateway",
    "birbctl.cli.proxy",
    "birbctl.cli.report",
    "birbctl.cli.serve",
    "birbctl.cli.tail",
)

RUN = """
import json, sys
from birbctl.cli.app import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


def imported(tmp_path: Path, *args: str) -> set[str]:
    """The modules `birbctl ARGS` imported, stdout to a file (as `> out` would)."""
    report = tmp_path / "modules.json"
    with (tmp_path / "stdout").open("wb") as out:
        subprocess.run(
            [sys.executable, "-c", RUN, str(report), *args],
            stdout=out, stderr=subprocess.PIPE, timeout=60, check=True,
            env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)},
        )  # fmt: skip
    result = json.loads(report.read_text())
    assert result["code"] in (0, None), result["code"]
    return set(result["modules"])


def others(*mine: str) -> tuple[str, ...]:
    return tuple(m for m in COMMAND_MODULES if m not in mine)


def unwanted(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A two-frame capture (JSON + zlib-stream)."""
    path = tmp_path / "two.cap"
    compressor = zlib.compressobj()
    url = "wss://gateway.discord.gg/?v=10&encoding=json&compress=zlib-stream"
    with CaptureWriter(path, url=url, encoding="json", compress="zlib-stream") as writer:
        writer.opened(1, t=1.0)
        for seq in (1, 2):
            message = orjson.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": seq, "d": {"id": "1"}})
            frame = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
            writer.frame(1, "recv", frame, t=1.0 + seq)
    return path


def test_decode_of_a_small_file_imports_only_decoding(tmp_path: Path, capture: Path) -> None:
    modules = imported(tmp_path, "decode", str(capture))
    assert "birbctl.capture.reader" in modules  # it did decode
    heavy = (
        *NETWORK,
        *others("birbctl.cli.decode", "birbctl.cli.connection"),
        "rich",
        "birbctl.render",
        "birbctl.capture.filters",  # no filter asked for
        "birbctl.protocol.opcodes",
        "pydantic",  # typer's own option conversion (see cli/coercion.py)
    )
    assert unwanted(modules, heavy) == []
    assert (tmp_path / "stdout").read_bytes().count(b"\n") == 2


def test_encode_imports_only_encoding(tmp_path: Path) -> None:
    payload = tmp_path / "one.json"
    payload.write_text('{"op": 1, "d": null}')
    modules = imported(tmp_path, "encode", str(payload), "-o", str(tmp_path / "one.etf"))
    assert "birbctl.capture.encoder" in modules
    heavy = (*NETWORK, *others("birbctl.cli.encode"), "rich", "birbctl.render", "pydantic")
    assert unwanted(modules, heavy) == []


def test_version_imports_no_command_and_not_pydantic(tmp_path: Path) -> None:
    modules = imported(tmp_path, "--version")
    heavy = (*NETWORK, *COMMAND_MODULES, "rich", "pydantic", "orjson")
    assert unwanted(modules, heavy) == []
    assert (tmp_path / "stdout").read_text().startswith("birbctl ")


def test_status_imports_no_other_command(tmp_path: Path) -> None:
    """status talks to control sockets (asyncio), and with none running prints no table."""
    report = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", RUN, str(report), "status"],
        capture_output=True, timeout=60, check=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)},
    )  # fmt: skip
    modules = set(json.loads(report.read_text())["modules"])
    heavy = (
        "aiohttp", "websockets", "birbctl.emulator", "pydantic", *others("birbctl.cli.control")
    )  # fmt: skip
    assert unwanted(modules, heavy) == []


def test_the_command_table_is_what_registration_makes() -> None:
    """app.COMMANDS names each command with the module that registers it, in --help's
    order: a run that names a command registers that module alone."""
    from birbctl.cli.app import COMMANDS, app

    assert [info.name for info in app.registered_commands] == [name for name, _ in COMMANDS]
    code = (
        "import sys; from birbctl.cli import app as a; "
        "a.app.only_needed = a._register_for(sys.argv[1:]); "
        "print(' '.join(str(i.name) for i in a.app.registered_commands))"
    )
    for name, module in COMMANDS:
        result = subprocess.run(
            [sys.executable, "-c", code, name],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        registered = result.stdout.split()
        assert name in registered
        assert registered == [n for n, m in COMMANDS if m == module]
