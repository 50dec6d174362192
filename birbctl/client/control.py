"""Control of a running session from another terminal: `birbctl status`, `ping`,
`reconnect`, `terminate`, `close`.

Each running connect/tail/demo listens on a Unix socket named after its PID in a
private per-user directory (mode 0700, checked before use): only the same user can
reach it, and nothing listens on the network. The protocol is one JSON object per line
each way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from birbctl.errors import BirbError, ConfigError

MAX_REQUEST = 64 * 1024


class ControlError(BirbError):
    """No running session answered, or it refused the command."""


def control_dir(create: bool = True) -> Path:
    """$XDG_RUNTIME_DIR/birbctl, else <tmp>/birbctl-<uid>; refuses one not private to us."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime) / "birbctl"
        if runtime
        else Path(tempfile.gettempdir()) / f"birbctl-{os.getuid()}"
    )
    if create:
        with contextlib.suppress(FileExistsError):
            base.mkdir(mode=0o700, parents=False)
    try:
        info = base.lstat()
    except FileNotFoundError:
        return base
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ConfigError(f"{base} is not a directory owned by you; refusing to use it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise ConfigError(f"{base} is open to other users (mode {stat.S_IMODE(info.st_mode):o})")
    return base


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]


class ControlServer:
    """Serves one running birbctl; `handler` answers each request dict with a dict."""

    def __init__(self, handler: Handler, *, command: str, directory: Path | None = None) -> None:
        self.handler = handler
        self.command = command
        self.directory = directory or control_dir()
        self.path = self.directory / f"{os.getpid()}.sock"
        self.started = time.time()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST
            )
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                line = await reader.readline()
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not an object")
                    answer = self.handler(request)
                    if isinstance(answer, Awaitable):
                        answer = await answer
                    response: dict[str, Any] = {"ok": True, **answer}
                except BirbError as exc:
                    response = {"ok": False, "error": str(exc)}
                except ValueError as exc:
                    response = {"ok": False, "error": f"bad request: {exc}"}
                response.setdefault("pid", os.getpid())
                response.setdefault("command", self.command)
                response.setdefault("started", self.started)
                writer.write(json.dumps(response).encode() + b"\n")
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def running_sessions(directory: Path | None = None) -> list[Path]:
    """Sockets of running sessions; stale ones (their process is gone) are removed."""
    directory = directory or control_dir(create=False)
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.sock")):
        try:
            pid = int(path.stem)
        except ValueError:
            continue
        if _alive(pid):
            found.append(path)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def query(path: Path, request: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=16 * 1024 * 1024)
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
            writer.close()
    except (OSError, TimeoutError) as exc:
        raise ControlError(f"session {path.stem} did not answer: {exc or 'timeout'}") from None
    try:
        answer: dict[str, Any] = json.loads(line)
    except ValueError:
        raise ControlError(f"session {path.stem} sent a bad answer") from None
    return answer


def pick_sessions(session: str | None, directory: Path | None = None) -> list[Path]:
    """The sockets a command targets: `--session PID`, else all (an error if none)."""
    paths = running_sessions(directory)
    if session is not None:
        paths = [p for p in paths if p.stem == session]
        if not paths:
            raise ControlError(f"no running birbctl session {session} (see `birbctl status`)")
    if not paths:
        raise ControlError("no running birbctl session (start one with `birbctl connect`)")
    return paths


async def ask_all(
    session: str | None, request: dict[str, Any], directory: Path | None = None
) -> list[dict[str, Any]]:
    paths = pick_sessions(session, directory)
    answers = await asyncio.gather(*(query(p, request) for p in paths), return_exceptions=True)
    results: list[dict[str, Any]] = []
    for path, answer in zip(paths, answers, strict=True):
        if isinstance(answer, BaseException):
            results.append({"ok": False, "pid": int(path.stem), "error": str(answer)})
        else:
            results.append(answer)
    return results


def manager_handler(manager: Any) -> Handler:
    """Answers control requests for a ShardManager."""

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        shard = request.get("shard")
        if shard is not None and not isinstance(shard, int):
            raise ConfigError("shard must be a number")
        if cmd == "status":
            return {"shards": manager.snapshots()}
        if cmd == "ping":
            return {"shards": manager.ping_tables()}
        if cmd == "reconnect":
            manager.reconnect(resume=not request.get("fresh", False), shard=shard)
            return {"done": "reconnect"}
        if cmd == "terminate":
            manager.terminate(shard=shard)
            return {"done": "terminate"}
        if cmd == "close":
            code = request.get("code", 1000)
            if not isinstance(code, int) or not (code in (1000, 1001) or 3000 <= code <= 4999):
                raise ConfigError("close code must be 1000, 1001 or 3000-4999")
            manager.close(code, "closed with birbctl close", shard=shard)
            return {"done": f"close {code}"}
        raise ConfigError(f"unknown command {cmd!r}")

    return handle
