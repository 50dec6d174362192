"""`birbctl status | ping | reconnect | terminate | close`: act on running sessions
through their control sockets."""

from __future__ import annotations

from typing import Annotated, Any

import typer

SessionOpt = Annotated[
    str | None, typer.Option("--session", help="PID of the session (see `birbctl status`).")
]
ShardTarget = Annotated[int | None, typer.Option("--shard", help="Only this shard id.", min=0)]
AllOpt = Annotated[
    bool,
    typer.Option("--all", help="Act on every running session (needed when more than one runs)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


def _ask(session: str | None, request: dict[str, Any]) -> list[dict[str, Any]]:
    """A read-only request: `--session PID`, else every running session."""
    import asyncio

    from birbctl.client.control import ask_all

    return asyncio.run(ask_all(session, request))


def _act(session: str | None, every: bool, request: dict[str, Any]) -> None:
    """A request that changes a session: one session, named or the only one running,
    or all of them with --all; then one line per session, or one error line."""
    import asyncio

    from birbctl.client.control import ControlError, ask_all
    from birbctl.errors import ConfigError

    if session is not None and every:
        raise ConfigError("--session and --all do not go together")
    answers = asyncio.run(ask_all(session, request, every=every))
    failed = [a for a in answers if not a.get("ok")]
    for answer in answers:
        if answer.get("ok"):
            typer.echo(f"session {answer['pid']}: {answer.get('done', 'ok')}")
    if failed:
        raise ControlError("; ".join(f"session {a.get('pid')}: {a.get('error')}" for a in failed))


def _print_json(answers: list[dict[str, Any]]) -> None:
    import sys

    import orjson

    sys.stdout.buffer.write(orjson.dumps(answers, option=orjson.OPT_INDENT_2) + b"\n")


def status(session: SessionOpt = None, json_out: JsonOpt = False) -> None:
    """Running birbctl sessions and their shards."""
    answers = _ask(session, {"cmd": "status"})
    if json_out:
        _print_json(answers)
        return
    from birbctl.render.console import make_console
    from birbctl.render.tables import status_table

    make_console().print(status_table(answers))


def ping(
    session: SessionOpt = None,
    json_out: JsonOpt = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh every second.")] = False,
) -> None:
    """Heartbeat round trips per shard: last, avg, min, p50, p95, max, samples."""
    if json_out:
        _print_json(_ask(session, {"cmd": "ping"}))
        return
    from birbctl.render.console import make_console
    from birbctl.render.tables import ping_table

    console = make_console()
    if not watch:
        console.print(ping_table(_ask(session, {"cmd": "ping"})))
        return
    import time

    from rich.live import Live

    with Live(ping_table(_ask(session, {"cmd": "ping"})), console=console) as live:
        while True:
            time.sleep(1)
            live.update(ping_table(_ask(session, {"cmd": "ping"})))


def reconnect(
    session: SessionOpt = None,
    shard: ShardTarget = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Identify afresh instead of resuming.")
    ] = False,
    every: AllOpt = False,
) -> None:
    """Close the connection (4000-range code) and resume, or identify afresh."""
    _act(session, every, {"cmd": "reconnect", "fresh": fresh, "shard": shard})


def terminate(session: SessionOpt = None, shard: ShardTarget = None, every: AllOpt = False) -> None:
    """Drop the TCP connection without a close frame; the session then resumes."""
    _act(session, every, {"cmd": "terminate", "shard": shard})


def close(
    code: Annotated[int, typer.Option("--code", help="Close code: 1000, 1001 or 3000-4999.")],
    session: SessionOpt = None,
    shard: ShardTarget = None,
    every: AllOpt = False,
) -> None:
    """Close with a code: 1000/1001 end the session; 3000-4999 close the connection with
    that code and the session resumes."""
    from birbctl.errors import ConfigError
    from birbctl.protocol.opcodes import CLIENT_CLOSE_CODES_TEXT, client_may_send

    if not client_may_send(code):
        raise ConfigError(f"--code {code}: use {CLIENT_CLOSE_CODES_TEXT}")
    _act(session, every, {"cmd": "close", "code": code, "shard": shard})


def register(app: typer.Typer) -> None:
    for command in (status, ping, reconnect, terminate, close):
        app.command(command.__name__)(command)
