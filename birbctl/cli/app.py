"""The `birbctl` command: one typer app, commands registered from thin modules.

Command modules import their heavy dependencies inside the command function, so
`birbctl --help` and shell completion stay fast; and a run that names a command
registers only that command's module (COMMANDS), so `birbctl decode x` imports and
builds no other command: short jobs start in typer's own time.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import typing
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from birbctl import __version__
from birbctl.cli.coercion import Command, Commands

if TYPE_CHECKING:
    from typer.models import CommandInfo


class _Commands(typer.Typer):
    """The app, whose commands are registered when something first reads them (typer
    building the command, a test's CliRunner). While main() runs a command it named, it
    has registered that command's module alone, and typer builds only what it finds:
    `birbctl decode x` imports no other command's module."""

    #: Set by main() for one run: what is registered is what the run needs.
    only_needed = False
    registering = False  # a module's register() is adding its commands
    _commands: list[CommandInfo]

    @property
    def registered_commands(self) -> list[CommandInfo]:
        if not (self.only_needed or self.registering) and len(_registered) < len(_MODULES):
            _register()
        return self._commands

    @registered_commands.setter
    def registered_commands(self, value: list[CommandInfo]) -> None:
        self._commands = value


app = _Commands(
    name="birbctl",
    cls=Commands,
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


def _with_shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` as typer should see it: each parameter typed as an option group (a
    dataclass of options, such as cli/connection.py's ConnectionOptions) spread into
    that group's fields, and a --debug/-v option of its own, so the flag also works after
    the command name (`birbctl decode x --debug`), where users put it."""
    hints = typing.get_type_hints(command, include_extras=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for param in inspect.signature(command).parameters.values():
        hint = hints[param.name]
        if _is_group(hint):
            groups[param.name] = hint
            parameters.extend(_group_parameters(hint))
        else:
            parameters.append(_keyword(param.name, hint, param.default))
    parameters.append(_keyword("debug", DebugOpt, False))
    names = [param.name for param in parameters]
    if len(set(names)) != len(names):
        raise TypeError(f"{command.__name__}: two options share a name in {names}")

    @functools.wraps(command)
    def run(**kwargs: Any) -> Any:
        global _debug
        debug = kwargs.pop("debug", False)  # popped whatever the root's -v said
        _debug = _debug or debug
        for name, group in groups.items():
            kwargs[name] = _gather(group, kwargs)
        return command(**kwargs)

    # Typer reads the signature and the annotations; both describe the spread options.
    run.__dict__["__signature__"] = inspect.Signature(parameters)
    run.__annotations__ = {param.name: param.annotation for param in parameters}
    return run


def _is_group(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    # Keyword-only: typer calls with keywords, and options may then come in any order.
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _group_parameters(group: type) -> Iterator[inspect.Parameter]:
    """A group's fields as options, in order; a field that is itself a group, spread."""
    hints = typing.get_type_hints(group, include_extras=True)
    for field in dataclasses.fields(group):
        hint = hints[field.name]
        if _is_group(hint):
            yield from _group_parameters(hint)
        else:
            yield _keyword(field.name, hint, field.default)


def _gather(group: type, kwargs: dict[str, Any]) -> Any:
    """The group built back from the spread options typer parsed (taken out of kwargs)."""
    hints = typing.get_type_hints(group, include_extras=True)
    values = {
        field.name: _gather(hints[field.name], kwargs)
        if _is_group(hints[field.name])
        else kwargs.pop(field.name)
        for field in dataclasses.fields(group)
    }
    return group(**values)


#: Every command, in --help's order, and the module of birbctl/cli whose register()
#: adds it: one line a command. A run that names a command imports only its module.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("demo", "demo"),
    ("connect", "connect"),
    ("tail", "tail"),
    ("status", "control"),
    ("ping", "control"),
    ("reconnect", "control"),
    ("terminate", "control"),
    ("close", "control"),
    ("gateway", "gateway"),
    ("decode", "decode"),
    ("encode", "encode"),
    ("serve", "serve"),
    ("proxy", "proxy"),
    ("report", "report"),
)


#: The modules of COMMANDS, in order, and those registered so far.
_MODULES = tuple(dict.fromkeys(module for _name, module in COMMANDS))
_registered: set[str] = set()


def _register(only: str | None = None) -> None:
    """Register every command (or the commands of the module that holds `only`), each
    module once, in COMMANDS' order whatever order they came in."""
    import importlib

    commands = app._commands
    app.registering = True
    try:
        for module in _MODULES:
            if module in _registered or only not in (None, *_names(module)):
                continue
            _registered.add(module)
            start = len(commands)
            importlib.import_module(f"birbctl.cli.{module}").register(app)
            # One place for the options every command takes, after or before its name.
            for info in commands[start:]:
                if info.callback is not None:
                    info.callback = _with_shared_options(info.callback)
                if info.cls in (None, typer.core.TyperCommand):
                    info.cls = Command  # its options convert without pydantic
    finally:
        app.registering = False
    order = {name: index for index, (name, _module) in enumerate(COMMANDS)}
    commands.sort(key=lambda info: order.get(str(info.name), len(order)))


def _names(module: str) -> list[str]:
    return [name for name, owner in COMMANDS if owner == module]


#: Options the root takes before a command's name: all flags, none takes a value.
_ROOT_FLAGS = frozenset(("--version", "--debug", "-v"))


def _register_for(args: list[str]) -> bool:
    """Register what this run needs: the command it names, none for a bare --version.
    False when it needs every command (help, completion, a name that is no command)."""
    if os.environ.get("_BIRBCTL_COMPLETE"):
        return False
    for arg in args:
        if arg in _ROOT_FLAGS:
            continue
        if any(arg == name for name, _module in COMMANDS):
            _register(arg)
            return True
        return False  # something only the whole app can answer (-h, a typo)
    # Eager --version prints and exits before any command is looked up.
    return "--version" in args


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error, ours or typer's usage error, as one line and its code."""
    app.only_needed = _register_for(sys.argv[1:] if argv is None else argv)
    try:
        _run(argv)
    finally:
        app.only_needed = False


def _run(argv: list[str] | None) -> None:
    from birbctl.errors import EXIT_INTERRUPTED, BirbError

    try:
        # Not standalone: typer hands its usage errors back instead of drawing a box.
        code = app(args=argv, prog_name="birbctl", standalone_mode=False)
    except KeyboardInterrupt:
        sys.stderr.write("birbctl: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except BirbError as exc:
        if _debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"birbctl: error: {exc}\n")
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("birbctl: error: aborted\n")
        sys.exit(1)
    except typer.TyperException as exc:  # a usage error: bad option value, missing argument
        message = " ".join(exc.format_message().split())
        if not message:  # no command given: typer has printed the help
            sys.exit(exc.exit_code)
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        sys.stderr.write(f"birbctl: error: {message}{hint}\n")
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
