"""The protocol layer stays pure: importing it pulls in no I/O or UI framework."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("asyncio", "websockets", "typer", "rich")


def test_protocol_imports_no_io_or_ui() -> None:
    code = (
        "import sys\n"
        "import birbctl.protocol.session, birbctl.protocol.opcodes\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
