"""`birbctl serve` (or `proxy`) as its own process for the benchmarks: start it, read its
gateway URL, stop it by PID."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time


def start_birbctl(name: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `birbctl ARGS...` (serve or proxy) and wait for the first ws://127.0.0.1:PORT
    it prints; (process, that URL). `name` says what failed to start."""
    return start_python(name, "-m", "birbctl", *args)


def start_python(name: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`python ARGS...`, then as start_birbctl."""
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"ws://127\.0\.0\.1:\d+", line)
        if found:
            return proc, found.group(0)
        if not line and proc.poll() is not None:
            break
    stop_process(proc)
    err = proc.stderr.read() if proc.stderr else ""
    raise SystemExit(f"{name} did not start: {err}")


def start_emulator(*options: str) -> tuple[subprocess.Popen[str], str]:
    """Start `birbctl serve --port 0 --quiet OPTIONS...`; (process, ws://127.0.0.1:PORT)."""
    return start_birbctl("the emulator", "serve", "--port", "0", "--quiet", *options)


def stop_process(proc: subprocess.Popen[str]) -> None:
    """SIGTERM by PID (the clean stop of serve and proxy), SIGKILL if it lingers; then its
    pipes are closed (what it printed after start-up is not read)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


stop_emulator = stop_process
