"""birbctl, promtool and prometheus as processes for the metrics tests: started with
their output read by threads (a line can be waited for, with a deadline), stopped by
PID, bounded in time."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterator, Sequence

import pytest

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.mEtRiCs_not_a_real_token_0123456789abc"
GATEWAY_LINE = re.compile(r"^gateway\s+(ws://[^/\s]+)")
METRICS_LINE = re.compile(r"^metrics\s+(http://\S+/metrics)\s*$")
DEADLINE = 30.0


class Process:
    """A process whose stdout and stderr are read line by line in the background (the
    newest 2,000 lines of each are kept), so a pipe never fills and blocks it."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: dict[str, deque[str]] = {
            name: deque(maxlen=2000) for name in ("stdout", "stderr")
        }
        self._changed = threading.Condition()
        self._threads = [
            threading.Thread(target=self._drain, args=(name,), daemon=True)
            for name in ("stdout", "stderr")
        ]
        for thread in self._threads:
            thread.start()

    def _drain(self, name: str) -> None:
        pipe = getattr(self.proc, name)
        for line in pipe:
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, name: str, pattern: re.Pattern[str], timeout: float = DEADLINE) -> str:
        """The first group of the first line of `name` matching `pattern`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[name]:
                    found = pattern.search(line)
                    if found:
                        return found.group(1)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self._changed.wait(min(left, 0.2))
        raise AssertionError(
            f"{' '.join(self.argv[2:4])}: no line like {pattern.pattern!r} on {name}; "
            f"stderr: {list(self.lines['stderr'])[-10:]}"
        )

    def stop(self) -> int:
        """SIGTERM by PID, SIGKILL if it lingers; the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=5)
        return self.proc.returncode


def birbctl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "birbctl", *args]


def token_env() -> dict[str, str]:
    return {**os.environ, "DISCORD_TOKEN": TOKEN}


@contextlib.contextmanager
def running(argv: Sequence[str], env: dict[str, str] | None = None) -> Iterator[Process]:
    process = Process(argv, env)
    try:
        yield process
    finally:
        process.stop()


@contextlib.contextmanager
def emulator(*options: str) -> Iterator[tuple[str, str, Process]]:
    """`birbctl serve --metrics 127.0.0.1:0 OPTIONS`: (gateway ws URL, metrics URL, it)."""
    argv = birbctl_argv("serve", "--port", "0", "--metrics", "127.0.0.1:0", *options)
    with running(argv) as serve:
        gateway = serve.wait_for("stdout", GATEWAY_LINE)
        metrics = serve.wait_for("stdout", METRICS_LINE)
        yield gateway, metrics, serve


def fetch(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        body: bytes = answer.read()
    return body.decode()


def scrape_until(url: str, needles: Sequence[str], timeout: float = DEADLINE) -> str:
    """Scrape `url` until the text holds every one of `needles`; that text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = fetch(url)
        if all(needle in text for needle in needles):
            return text
        time.sleep(0.25)
    missing = [needle for needle in needles if needle not in text]
    raise AssertionError(f"{url} never showed {missing}")


def need(tool: str) -> str:
    """The path of `tool`, or a skip that says why and how to get it."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(
            f"{tool} is not installed (Debian package 'prometheus'; .ci/run installs it "
            "when run as root)"
        )
    return path


def promtool_check_metrics(text: str) -> None:
    """`promtool check metrics` passes the scrape: exit 0 and nothing to complain of."""
    result = subprocess.run(
        [need("promtool"), "check", "metrics"],
        input=text, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
