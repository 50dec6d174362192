"""Converting option values without pydantic.

Since 0.29, typer converts every parameter that is not a bool flag through a pydantic
TypeAdapter, and building the first one imports pydantic: about a quarter of a second
added to every command, `status` and `decode` of two frames included. birbctl's
parameters are of a few plain types (str, bool, int and float with bounds, Path, an
Enum of choices, a list of str), so each command, and the group of them, hands such a
parameter a converter of its own as click gathers the parameters to parse; any other
parameter keeps typer's. A Path is not checked here (typer would refuse an existing
file it cannot read): the command that opens it says what failed, in its own words.
If typer's coercion hook is not where this module expects it (another typer release),
nothing is replaced and typer converts everything as before: slower, never wrong.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer's runtime coercion hook (typer >= 0.29)
    from typer._coercion import RuntimeParam
    from typer.core import _TyperParameter
except ImportError:  # pragma: no cover - another typer: keep its own conversion
    HOOKED = False
else:
    HOOKED = True

Convert = Callable[[Any], Any]

_PATH_CHECKS = ("exists", "writable", "resolve_path", "allow_dash", "path_type")


class Command(TyperCommand):
    """A command whose parameters convert with this module."""

    def get_params(self, ctx: Any) -> list[Any]:
        # Where click gathers them to parse: --help and typer's completion options too.
        params = super().get_params(ctx)
        install(params)
        return params


class Commands(TyperGroup):
    """The group of commands, whose own parameters convert with this module."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        install(params)
        return params


def install(params: Iterable[Any]) -> None:
    """Give each of `params` that birbctl can convert its own converter."""
    if not HOOKED:
        return  # pragma: no cover
    for param in params:
        if isinstance(param, _TyperParameter):
            runtime = _runtime_param(param)
            if runtime is not None:
                param._runtime_param = runtime


def _runtime_param(param: Any) -> Any | None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", False) is not None:
        return None  # not typer's hook as known, or a converter is already set
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if info.parser is not None or descriptor.file_annotation is not None:
        return None
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (None,)
        convert = _converter(item, info)
        return None if convert is None else _Converted(info, annotation, _each(convert))
    convert = _converter(annotation, info)
    return None if convert is None else _Converted(info, annotation, convert)


def _converter(annotation: Any, info: Any) -> Convert | None:
    if info.clamp or info.formats:
        return None
    if annotation is str:
        return str
    if annotation is bool:
        return _bool
    if annotation is int or annotation is float:
        return _number(annotation, info.min, info.max)
    if annotation is Path:
        checks = any(getattr(info, name, None) for name in _PATH_CHECKS)
        if checks or not (info.file_okay and info.dir_okay):
            return None  # typer's checks asked for: typer's conversion
        return Path
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _choice(annotation, case_sensitive=info.case_sensitive)
    return None


def _number(kind: type[int] | type[float], low: float | None, high: float | None) -> Convert:
    name = "integer" if kind is int else "number"

    def convert(value: Any) -> Any:
        number: float
        if isinstance(value, kind) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = kind(value)
            except (TypeError, ValueError):
                raise typer.BadParameter(f"{value!r} is not a valid {name}.") from None
        if kind is float and math.isnan(number):
            raise typer.BadParameter(f"{value!r} is not a valid {name}.")
        if (low is not None and number < low) or (high is not None and number > high):
            raise typer.BadParameter(f"{value} is not in the range {_range(low, high)}.")
        return number

    return convert


_BOOLS = {
    **dict.fromkeys(("1", "true", "t", "yes", "y", "on"), True),
    **dict.fromkeys(("0", "false", "f", "no", "n", "off", ""), False),
}


def _bool(value: Any) -> bool:
    """A flag is already a bool; a value from an environment variable is a word."""
    if isinstance(value, bool):
        return value
    flag = _BOOLS.get(str(value).strip().lower())
    if flag is None:
        raise typer.BadParameter(f"{value!r} is not a valid boolean.")
    return flag


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low}<=x<={high}"
    return f"x>={low}" if low is not None else f"x<={high}"


def _choice(kind: type[enum.Enum], *, case_sensitive: bool) -> Convert:
    def key(value: Any) -> str:
        text = str(value)
        return text if case_sensitive else text.casefold()

    members = {key(member.value): member for member in kind}

    def convert(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        member = members.get(key(value))
        if member is None:
            choices = ", ".join(repr(member.value) for member in kind)
            raise typer.BadParameter(f"{value!r} is not one of {choices}.")
        return member

    return convert


def _each(convert: Convert) -> Convert:
    return lambda values: [convert(value) for value in values]


if HOOKED:

    @dataclass(frozen=True)
    class _Converted(RuntimeParam):
        """typer's runtime parameter, converting with one of this module's functions
        (typer handles None and multiple values around it)."""

        convert: Convert

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self.convert(value)
            except typer.BadParameter as exc:
                exc.ctx, exc.param = ctx, param
                raise
