"""DashboardView end to end with a stand-in manager: frames, keys through a real
pseudo-terminal, and the terminal settings restored however the view ends."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import termios
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from rich.console import Console

from birbctl.client.monitor import LogLine
from birbctl.client.snapshot import PingSnapshot, ShardSnapshot
from birbctl.render.dashboard import DashboardView


class FakeMonitor:
    def __init__(self) -> None:
        self.event_types: Counter[str] = Counter({"MESSAGE_CREATE": 5, "READY": 1})


class FakeManager:
    """What the view reads from and calls on a ShardManager, recorded."""

    def __init__(self) -> None:
        self.shards = {0: object(), 1: object()}
        self.monitors = {0: FakeMonitor(), 1: FakeMonitor()}
        self.calls: list[tuple[Any, ...]] = []

    def snapshots(self) -> list[ShardSnapshot]:
        return [
            ShardSnapshot(shard=(i, 2), status="ready", session_id=f"s{i}" * 8, seq=7,
             ping=1.5, ping_avg=1.25, last_ack_age=0.5, uptime=3.0,
             connections=1, resumes=0, reidentifies=0, events=6,
             events_per_s=2.0, guilds_ready=1, guilds_expected=1,
             url="ws://127.0.0.1:1/?v=10", encoding="json", compress=None)
            for i in (0, 1)
        ]  # fmt: skip

    def ping_snapshots(self) -> list[PingSnapshot]:
        return [
            PingSnapshot(shard=(i, 2), last=1.5, avg=1.25, min=1.0, p50=1.2, p95=1.5,
             max=1.5, samples=2, history=(1.0, 1.5))
            for i in (0, 1)
        ]  # fmt: skip

    def logs(self) -> list[LogLine]:
        return [LogLine(0.0, 0, "ready (was connecting): READY", "info")]

    def event_counts(self) -> list[Mapping[str, int]]:
        return [m.event_types for m in self.monitors.values()]

    def shard_ids(self) -> list[int]:
        return sorted(self.shards)

    def reconnect(self, resume: bool = True, shard: int | None = None) -> None:
        self.calls.append(("reconnect", resume, shard))

    def terminate(self, shard: int | None = None) -> None:
        self.calls.append(("terminate", shard))

    def close(self, code: int = 1000, reason: str = "", shard: int | None = None) -> None:
        self.calls.append(("close", code, shard))


def console() -> Console:
    return Console(
        file=io.StringIO(), width=80, height=30, force_terminal=True, color_system=None,
        record=True,
    )  # fmt: skip


async def test_without_a_terminal_on_stdin_it_renders_and_stops() -> None:
    view = DashboardView(console(), stdin=io.StringIO(), refresh_per_second=50)
    manager: Any = FakeManager()
    view.attach(manager)
    stop = asyncio.Event()
    task = asyncio.create_task(view.run(manager, stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 2)
    view.finish(manager)
    text = view.console.export_text()
    assert "no keys" in text  # frames while running
    assert "stopped" in text  # the final frame
    assert "shard 1: 6 events, 0 resumes, 0 re-identifies, avg ping 1.2 ms" in text


@pytest.fixture
def tty_stdin() -> Any:
    main, follower = pty.openpty()
    stdin = os.fdopen(follower, "r", closefd=True)
    yield main, stdin
    stdin.close()
    os.close(main)


async def test_keys_from_a_terminal_act_and_the_terminal_is_restored(tty_stdin: Any) -> None:
    main, stdin = tty_stdin
    before = termios.tcgetattr(stdin.fileno())
    view = DashboardView(console(), stdin=stdin, refresh_per_second=50)
    manager: Any = FakeManager()
    view.attach(manager)
    stop = asyncio.Event()
    task = asyncio.create_task(view.run(manager, stop))
    await asyncio.sleep(0.1)
    during = termios.tcgetattr(stdin.fileno())
    assert not during[3] & termios.ICANON and not during[3] & termios.ECHO  # cbreak
    os.write(main, b"1r")
    await asyncio.sleep(0.1)
    os.write(main, b"c4001\r")
    await asyncio.sleep(0.1)
    os.write(main, b"q")
    await asyncio.wait_for(task, 2)  # q set the stop event
    assert stop.is_set()
    assert manager.calls == [("reconnect", True, 1), ("close", 4001, 1)]
    assert termios.tcgetattr(stdin.fileno()) == before
    view.finish(manager)
    assert termios.tcgetattr(stdin.fileno()) == before


async def test_the_terminal_is_restored_when_the_view_is_cancelled(tty_stdin: Any) -> None:
    _, stdin = tty_stdin
    before = termios.tcgetattr(stdin.fileno())
    view = DashboardView(console(), stdin=stdin, refresh_per_second=50)
    manager: Any = FakeManager()
    task = asyncio.create_task(view.run(manager, asyncio.Event()))
    await asyncio.sleep(0.1)
    assert termios.tcgetattr(stdin.fileno()) != before
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert termios.tcgetattr(stdin.fileno()) == before
    assert view._live is None  # stopped: the cursor is back


async def test_a_failing_frame_still_restores_the_terminal(tty_stdin: Any) -> None:
    _, stdin = tty_stdin
    before = termios.tcgetattr(stdin.fileno())
    view = DashboardView(console(), stdin=stdin, refresh_per_second=50)
    manager: Any = FakeManager()
    manager.snapshots = lambda: 1 / 0
    with pytest.raises(ZeroDivisionError):
        await view.run(manager, asyncio.Event())
    assert termios.tcgetattr(stdin.fileno()) == before
