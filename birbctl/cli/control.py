"""`birbctl status | ping | reconnect | terminate | close`: act on running birbctl
processes through their control sockets.

A running `connect`, `tail` or `demo` is a birbctl *process*, named by its PID
(`--pid`); "session" means only the gateway session (session_id, RESUME).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from birbctl.protocol.opcodes import CLIENT_CLOSE_CODES_TEXT

if TYPE_CHECKING:
    from birbctl.client.snapshot import JsonForm

PidOpt = Annotated[
    int | None,
    typer.Option("--pid", help="PID of the birbctl process (see `birbctl status`).", min=1),
]
#: `--pid`'s old name, from when a running birbctl was called a session: old scripts
#: keep working; not shown in --help.
LegacySessionOpt = Annotated[
    int | None,
    typer.Option("--session", hidden=True, min=1, help="Deprecated spelling of --pid."),
]
ShardTarget = Annotated[int | None, typer.Option("--shard", help="Only this shard id.", min=0)]
AllOpt = Annotated[
    bool,
    typer.Option("--all", help="Act on every running process (needed when more than one runs)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


def _pid(pid: int | None, legacy: int | None) -> int | None:
    """`--pid`, or its deprecated spelling `--session`; both must agree."""
    from birbctl.errors import ConfigError

    if pid is not None and legacy is not None and pid != legacy:
        raise ConfigError(f"--pid {pid} and --session {legacy} name different processes")
    return pid if pid is not None else legacy


def _act(pid: int | None, every: bool, request: dict[str, Any]) -> None:
    """A request that changes a process: one, named or the only one running, or all of
    them with --all; then one line per process, or one error line."""
    import asyncio

    from birbctl.client.control import ControlError, ask_all
    from birbctl.errors import ConfigError

    if pid is not None and every:
        raise ConfigError("--pid and --all do not go together")
    answers = asyncio.run(ask_all(pid, request, every=every))
    failed = [a for a in answers if not a.get("ok")]
    for answer in answers:
        if answer.get("ok"):
            typer.echo(f"process {answer['pid']}: {answer.get('done', 'ok')}")
    if failed:
        raise ControlError("; ".join(f"process {a.get('pid')}: {a.get('error')}" for a in failed))


def _print_json(answers: Sequence[JsonForm]) -> None:
    """The snapshots' own JSON form, one array (the control socket's answers)."""
    import sys

    import orjson

    rows = [answer.to_json() for answer in answers]
    sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")


def status(pid: PidOpt = None, json_out: JsonOpt = False, session: LegacySessionOpt = None) -> None:
    """Running birbctl processes and their shards."""
    import asyncio

    from birbctl.client.control import statuses

    answers = asyncio.run(statuses(_pid(pid, session)))
    if json_out:
        _print_json(answers)
        return
    from birbctl.render.console import make_console
    from birbctl.render.tables import status_table

    make_console().print(status_table(answers))


def ping(
    pid: PidOpt = None,
    json_out: JsonOpt = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh every second.")] = False,
    session: LegacySessionOpt = None,
) -> None:
    """Heartbeat round trips per shard: last, avg, min, p50, p95, max, samples."""
    import asyncio

    from birbctl.client.control import pings

    target = _pid(pid, session)
    answers = asyncio.run(pings(target))  # first: no process running needs no rich
    if json_out:
        _print_json(answers)
        return
    from birbctl.render.console import make_console
    from birbctl.render.tables import ping_table

    console = make_console()
    if not watch:
        console.print(ping_table(answers))
        return
    import time

    from rich.live import Live

    with Live(ping_table(answers), console=console) as live:
        while True:
            time.sleep(1)
            live.update(ping_table(asyncio.run(pings(target))))


def reconnect(
    pid: PidOpt = None,
    shard: ShardTarget = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Identify afresh instead of resuming.")
    ] = False,
    every: AllOpt = False,
    session: LegacySessionOpt = None,
) -> None:
    """Close the connection (4000-range code) and resume, or identify afresh."""
    _act(_pid(pid, session), every, {"cmd": "reconnect", "fresh": fresh, "shard": shard})


def terminate(
    pid: PidOpt = None,
    shard: ShardTarget = None,
    every: AllOpt = False,
    session: LegacySessionOpt = None,
) -> None:
    """Drop the TCP connection without a close frame; the gateway session then resumes."""
    _act(_pid(pid, session), every, {"cmd": "terminate", "shard": shard})


def close(
    code: Annotated[int, typer.Option("--code", help=f"Close code: {CLIENT_CLOSE_CODES_TEXT}.")],
    pid: PidOpt = None,
    shard: ShardTarget = None,
    every: AllOpt = False,
    session: LegacySessionOpt = None,
) -> None:
    """Close with a code: 1000/1001 end the gateway session; 3000-4999 close the
    connection with that code and the session resumes."""
    from birbctl.errors import ConfigError
    from birbctl.protocol.opcodes import client_may_send

    if not client_may_send(code):
        raise ConfigError(f"--code {code}: use {CLIENT_CLOSE_CODES_TEXT}")
    _act(_pid(pid, session), every, {"cmd": "close", "code": code, "shard": shard})


def register(app: typer.Typer) -> None:
    for command in (status, ping, reconnect, terminate, close):
        app.command(command.__name__)(command)
