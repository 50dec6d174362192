"""The `birbctl` command: one typer app, commands registered from thin modules.

Command modules import their heavy dependencies inside the command function, so
`birbctl --help` and shell completion stay fast.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from birbctl import __version__

app = typer.Typer(
    name="birbctl",
    help="Inspect the Discord Gateway: connect, watch, record, decode, break sessions on purpose.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_debug = False

DebugOpt = Annotated[bool, typer.Option("--debug", "-v", help="Show tracebacks for errors.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"birbctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: DebugOpt = False,
) -> None:
    global _debug
    _debug = debug or bool(os.environ.get("BIRBCTL_DEBUG"))


def _with_debug(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` plus a --debug/-v option of its own, so the flag also works after the
    command name (`birbctl decode x --debug`), where users put it."""

    @functools.wraps(command)
    def run(*args: Any, debug: bool = False, **kwargs: Any) -> Any:
        global _debug
        _debug = _debug or debug
        return command(*args, **kwargs)

    signature = inspect.signature(command, eval_str=True)
    extra = inspect.Parameter(
        "debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOpt
    )
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra]
    )
    run.__annotations__ = {**typing.get_type_hints(command, include_extras=True), "debug": DebugOpt}
    return run


def _register() -> None:
    from birbctl.cli import connect, control, decode, demo, encode, gateway, serve, tail

    demo.register(app)
    connect.register(app)
    tail.register(app)
    control.register(app)
    gateway.register(app)
    decode.register(app)
    encode.register(app)
    serve.register(app)
    # One place for the options every command takes, after or before its name.
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = _with_debug(info.callback)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: turn every BirbError into one line and its exit code."""
    from birbctl.errors import EXIT_INTERRUPTED, BirbError

    try:
        app(args=argv, prog_name="birbctl")
    except KeyboardInterrupt:
        sys.stderr.write("birbctl: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except BirbError as exc:
        if _debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"birbctl: error: {exc}\n")
        sys.exit(exc.exit_code)
