"""Control of a running birbctl process from another terminal: `birbctl status`,
`ping`, `reconnect`, `terminate`, `close`.

Each running connect/tail/demo (a birbctl *process*, named by its PID; "session" is
the gateway's) listens on a Unix socket named after its PID in a private per-user
directory (mode 0700, checked before use): only the same user can reach it, and
nothing listens on the network. The protocol is one JSON object per line each way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from birbctl.client.snapshot import (
    ProcessPings,
    ProcessSnapshot,
    ProcessUnanswered,
    SnapshotError,
    json_kind,
)
from birbctl.errors import BirbError, ConfigError
from birbctl.protocol.opcodes import CLIENT_CLOSE_CODES_TEXT, CloseCode, client_may_send

#: Bytes of one request line. A real one is under 100; the bound keeps a stray writer
#: from growing the server's memory.
MAX_REQUEST = 4096
#: Nesting of arrays and objects a request may have: a request is one flat object, so
#: anything deeper is refused before it is parsed (the parser recurses).
MAX_REQUEST_DEPTH = 4
#: Digits a number may have: shard ids and close codes are short; Python's int parser
#: refuses past 4300 digits in its own words.
MAX_DIGITS = 20
#: Seconds a client has to send its request line.
REQUEST_TIMEOUT = 5.0
#: The commands the server answers, and the fields each request may carry.
COMMANDS = ("status", "ping", "reconnect", "terminate", "close")
FIELDS = ("cmd", "shard", "fresh", "code")


class ControlError(BirbError):
    """No running birbctl process answered, or it refused the command."""


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
        # The socket is made 0600 by binding it under a umask, synchronously: a umask
        # held across an await is the whole process's, and another task (a second
        # server starting) could restore the wrong one.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old)
            self._server = await asyncio.start_unix_server(
                self._serve, sock=sock, limit=MAX_REQUEST
            )
        except BaseException:
            sock.close()
            raise

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
        """One request, one answer, whatever arrives: every bad request gets an error in
        words, and nothing a client sends can raise out of here (the event loop would
        print the traceback over the user's dashboard)."""
        try:
            try:
                line = await _read_request(reader)
                if line is None:
                    return  # connected and left without a byte: nothing to answer
                response = await self._answer(line)
            except BadRequest as exc:
                response = {"ok": False, "error": f"bad request: {exc}"}
            response.setdefault("pid", os.getpid())
            response.setdefault("command", self.command)
            response.setdefault("started", self.started)
            writer.write(json.dumps(response).encode() + b"\n")
            async with asyncio.timeout(REQUEST_TIMEOUT):
                await writer.drain()
                if not reader.at_eof():
                    # The peer may still be writing (an over-long request): take the rest
                    # so closing does not reset the connection before it reads the answer.
                    writer.write_eof()
                    for _ in range(256):
                        if not await reader.read(64 * 1024):
                            break
        except (TimeoutError, OSError, RuntimeError):
            pass  # the client went away, or never finished: it cannot read an answer
        except Exception as exc:  # a bug in the handler: answer it, never print it
            with contextlib.suppress(Exception):
                problem = {"ok": False, "error": f"internal error: {type(exc).__name__}"}
                writer.write(json.dumps(problem).encode() + b"\n")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        request = parse_request(line)
        try:
            answer = self.handler(request)
            if isinstance(answer, Awaitable):
                answer = await answer
        except BirbError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, **answer}


class BadRequest(Exception):
    """A request line that is not one of ours; its text is what the client prints."""


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """The request line, without its newline; None if the client sent nothing at all.
    Raises BadRequest for one that is too long, unfinished or late."""
    buf = bytearray()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            while (end := buf.find(b"\n")) < 0:
                if len(buf) > MAX_REQUEST:
                    break
                chunk = await reader.read(MAX_REQUEST + 1 - len(buf))
                if not chunk:
                    if not buf:
                        return None
                    raise BadRequest("the connection ended before the request's newline")
                buf += chunk
    except TimeoutError:
        raise BadRequest(f"no whole request line within {REQUEST_TIMEOUT:g} s") from None
    if end < 0 or end > MAX_REQUEST:
        raise BadRequest(f"longer than {MAX_REQUEST} bytes")
    return bytes(buf[:end])


def parse_request(line: bytes) -> dict[str, Any]:
    """A request line as a checked dict: {"cmd": one of COMMANDS, "shard": id or None,
    "fresh": bool, "code": int}. Every refusal is a BadRequest in our words."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"not UTF-8 text (byte {exc.start})") from None
    depth = _nesting(text)
    if depth > MAX_REQUEST_DEPTH:
        raise BadRequest(f"nested deeper than {MAX_REQUEST_DEPTH} levels")
    try:
        request = json.loads(text, parse_int=_short_int, parse_constant=_no_constant)
    except BadRequest:
        raise
    except json.JSONDecodeError as exc:
        at = len(text[: exc.pos].encode())
        raise BadRequest(f"not JSON (byte {at})") from None
    except (ValueError, RecursionError):
        raise BadRequest("not JSON") from None
    if not isinstance(request, dict):
        raise BadRequest(f"expected a JSON object, got {json_kind(request)}")
    unknown = [key for key in request if key not in FIELDS]
    if unknown:
        raise BadRequest(f"unknown field {_shown(unknown[0])} (fields: {', '.join(FIELDS)})")
    cmd = request.get("cmd")
    if not isinstance(cmd, str):
        raise BadRequest(f"cmd must be a command name, got {json_kind(cmd)}")
    if cmd not in COMMANDS:
        raise BadRequest(f"unknown command {_shown(cmd)} (commands: {', '.join(COMMANDS)})")
    shard = request.get("shard")
    if shard is not None and (not _is_int(shard) or not 0 <= shard < 2**32):
        raise BadRequest(f"shard must be a shard id: a whole number, 0 to {2**32 - 1}")
    fresh = request.get("fresh", False)
    if not isinstance(fresh, bool):
        raise BadRequest(f"fresh must be true or false, got {json_kind(fresh)}")
    code = request.get("code", int(CloseCode.NORMAL_CLOSURE))
    if not _is_int(code):
        raise BadRequest(f"code must be a whole number, got {json_kind(code)}")
    return {"cmd": cmd, "shard": shard, "fresh": fresh, "code": code}


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in `text`, brackets inside strings not counted:
    a loop over the text, so any depth is measured without recursing."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _short_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise BadRequest(f"a number longer than {MAX_DIGITS} digits")
    return int(digits)


def _no_constant(name: str) -> Any:
    raise BadRequest(f"{name} is not a JSON number")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(text: str, limit: int = 32) -> str:
    """A client's string quoted for an error line: short, escapes visible."""
    return json.dumps(text if len(text) <= limit else text[:limit] + "...")


def running_processes(directory: Path | None = None) -> list[Path]:
    """Sockets of running birbctl processes; stale ones (their process is gone) are removed."""
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
    """Send one request to one process's socket; its answer, or a ControlError."""
    pid = path.stem
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=1024 * 1024)
            try:
                writer.write(json.dumps(request).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except TimeoutError:
        raise ControlError(f"process {pid} did not answer within {timeout:g} s") from None
    except OSError as exc:
        why = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise ControlError(f"process {pid} did not answer: {why}") from None
    except ValueError:  # an answer line past the reader's limit
        raise ControlError(f"process {pid} sent an answer too long to read") from None
    try:
        answer = json.loads(line)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ControlError(f"process {pid} sent a bad answer")
    if not answer.get("ok"):
        answer["error"] = " ".join(str(answer.get("error") or "refused").split())
    return answer


def pick_processes(pid: int | None, directory: Path | None = None) -> list[Path]:
    """The sockets a command targets: `--pid PID`, else all (an error if none)."""
    paths = running_processes(directory)
    if pid is not None:
        paths = [p for p in paths if p.stem == str(pid)]
        if not paths:
            raise ControlError(f"no running birbctl process {pid} (see `birbctl status`)")
    if not paths:
        raise ControlError("no running birbctl process (start one with `birbctl connect`)")
    return paths


async def ask_all(
    pid: int | None,
    request: dict[str, Any],
    directory: Path | None = None,
    *,
    every: bool = True,
) -> list[dict[str, Any]]:
    """Ask the process `--pid` picks, else all of them. With `every` False (a command
    that changes something, without --all) several running processes are a usage
    error that names them: acting on all by default reaches processes started
    elsewhere, for other work."""
    paths = pick_processes(pid, directory)
    if pid is None and not every and len(paths) > 1:
        answers = await _gather(paths, {"cmd": "status"})
        listed = "; ".join(_describe_process(_typed(ProcessSnapshot, a)) for a in answers)
        raise ConfigError(
            f"{len(paths)} birbctl processes are running ({listed}): pick one with "
            "--pid PID, or pass --all to act on every one"
        )
    return await _gather(paths, request)


async def _gather(paths: list[Path], request: dict[str, Any]) -> list[dict[str, Any]]:
    answers = await asyncio.gather(*(query(p, request) for p in paths), return_exceptions=True)
    results: list[dict[str, Any]] = []
    for path, answer in zip(paths, answers, strict=True):
        # The socket is named after the process's PID, in our private directory: that
        # is the PID, whatever the answer says.
        if isinstance(answer, BaseException):
            results.append({"ok": False, "pid": int(path.stem), "error": str(answer)})
        else:
            results.append({**answer, "pid": int(path.stem)})
    return results


async def statuses(
    pid: int | None, directory: Path | None = None
) -> list[ProcessSnapshot | ProcessUnanswered]:
    """`birbctl status`: the process `--pid` names, else every running one."""
    answers = await _gather(pick_processes(pid, directory), {"cmd": "status"})
    return [_typed(ProcessSnapshot, answer) for answer in answers]


async def pings(
    pid: int | None, directory: Path | None = None
) -> list[ProcessPings | ProcessUnanswered]:
    """`birbctl ping`: the process `--pid` names, else every running one."""
    answers = await _gather(pick_processes(pid, directory), {"cmd": "ping"})
    return [_typed(ProcessPings, answer) for answer in answers]


_Answer = TypeVar("_Answer", ProcessSnapshot, ProcessPings)


def _typed(cls: type[_Answer], answer: dict[str, Any]) -> _Answer | ProcessUnanswered:
    """An answer read back into its snapshot; one that is refused or does not read
    (a field missing or of the wrong type) becomes a ProcessUnanswered naming why."""
    pid: int = answer["pid"]  # _gather puts it in every answer
    if not answer.get("ok"):
        return ProcessUnanswered(pid, str(answer.get("error") or "refused"))
    try:
        return cls.from_json(answer)
    except SnapshotError as exc:
        return ProcessUnanswered(pid, f"process {pid} sent a bad answer: {exc}")


def _describe_process(answer: ProcessSnapshot | ProcessUnanswered) -> str:
    """`PID 1234 connect, shards 0/2 1/2, started 10:31:02` for the refusal's list."""
    if isinstance(answer, ProcessUnanswered):
        return f"PID {answer.pid} (no answer)"
    ids = [f"{shard.shard[0]}/{shard.shard[1]}" for shard in answer.shards]
    when = "?"
    if 0 < answer.started < 1e11:
        moment = time.localtime(answer.started)
        now = time.localtime()
        today = (now.tm_year, now.tm_yday) == (moment.tm_year, moment.tm_yday)
        when = time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M", moment)
    return f"PID {answer.pid} {answer.command}, shards {' '.join(ids) or '-'}, started {when}"


def manager_handler(manager: Any) -> Handler:
    """Answers checked control requests (see parse_request) for a ShardManager."""

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        cmd = request["cmd"]
        shard = request.get("shard")
        # The server adds pid, command and started: with them, these are the JSON
        # forms of ProcessSnapshot and ProcessPings.
        if cmd == "status":
            return {"shards": [snap.to_json() for snap in manager.snapshots()]}
        if cmd == "ping":
            return {"shards": [snap.to_json() for snap in manager.ping_snapshots()]}
        if cmd == "reconnect":
            manager.reconnect(resume=not request.get("fresh", False), shard=shard)
            return {"done": "reconnect"}
        if cmd == "terminate":
            manager.terminate(shard=shard)
            return {"done": "terminate"}
        if cmd == "close":
            code = request.get("code", int(CloseCode.NORMAL_CLOSURE))
            if not client_may_send(code):
                raise ConfigError(f"close code {code}: use {CLIENT_CLOSE_CODES_TEXT}")
            manager.close(code, "closed with birbctl close", shard=shard)
            return {"done": f"close {code}"}
        raise ConfigError(f"unknown command {cmd!r}")

    return handle
