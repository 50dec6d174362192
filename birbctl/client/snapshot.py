"""Frozen, typed pictures of a shard and of a running birbctl process.

The monitor takes them (`ShardMonitor.snapshot()`, `.pings()`); the dashboard, the
plain and JSON views, `birbctl status` and `ping` (tables and `--json`) and the tests
read them. Fields are attributes, not dict keys, so mypy --strict refuses a read of a
field that does not exist instead of a view showing "-".

The JSON form is derived from the fields, once: `to_json()` writes every field under
its own name (tuples as arrays, nested snapshots as objects), and `from_json()` reads
it back, refusing a missing or mistyped field with a `SnapshotError` that says which
(`shards[0].seq: expected a whole number or null, got a string`). Keys a newer
birbctl adds are ignored, so an older `birbctl status` still reads a newer process.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass
from typing import Any, Self, TypeVar, Union, get_args, get_origin, get_type_hints

from birbctl.protocol.latency import LatencyStats

_T = TypeVar("_T")


class SnapshotError(ValueError):
    """JSON that is not the snapshot it should be; the text names the field."""


class JsonForm:
    """`to_json()` and `from_json()` for a frozen dataclass of JSON-able fields."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        encoded = _encode(self)
        assert isinstance(encoded, dict)
        return encoded

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """The snapshot `data` (parsed JSON) describes; SnapshotError if it does not."""
        return _decode_fields(cls, data, "")


@dataclass(frozen=True, slots=True)
class ShardSnapshot(JsonForm):
    """One shard as the dashboard, `status` and the views' summaries show it.

    Times are seconds, pings milliseconds; None means "not known yet".
    """

    shard: tuple[int, int]  # (id, count)
    status: str  # a GatewayStatus value (text, so an older client reads a newer one)
    session_id: str | None  # the gateway session, once READY
    seq: int | None  # the last sequence number received
    ping: float | None  # the last heartbeat round trip
    ping_avg: float | None
    last_ack_age: float | None  # since the last heartbeat ACK
    uptime: float  # since the monitor started
    connections: int  # connections this shard has opened
    resumes: int  # RESUMED received
    reidentifies: int  # IDENTIFY sent after the first
    events: int  # dispatches received
    events_per_s: float  # over the monitor's rate window
    guilds_ready: int  # guilds of the last READY that have arrived
    guilds_expected: int  # guilds the last READY listed
    url: str  # the gateway URL connected to
    encoding: str  # an Encoding value
    compress: str | None  # a Compression's query value; None: uncompressed
    #: How the shard's last connection ended ("4000 by server", "dropped by bot"); None
    #: until one has.
    last_close: str | None = None

    @property
    def shard_id(self) -> int:
        return self.shard[0]

    def summary(self) -> str:
        """The closing line's figures, for the plain view and the dashboard alike."""
        ping = "-" if self.ping_avg is None else f"{self.ping_avg:.1f} ms"
        return (
            f"{self.events:,} events, {self.resumes} resumes, "
            f"{self.reidentifies} re-identifies, avg ping {ping}"
        )


def close_words(side: str, code: int | None) -> str:
    """How a connection ended, for `last_close`: '4000 by server', 'dropped by bot'."""
    return f"dropped by {side}" if code is None else f"{code} by {side}"


@dataclass(frozen=True, slots=True)
class PingSnapshot(JsonForm):
    """`birbctl ping` and the dashboard's ping history: one shard's round trips, in ms.

    The figures repeat `protocol.latency.LatencyStats` field for field, on purpose: the
    stats are the session's live numbers, this is the frozen picture with the shard and
    the history that the control socket carries and reads back.
    """

    shard: tuple[int, int]
    last: float | None
    avg: float | None
    min: float | None
    p50: float | None
    p95: float | None
    max: float | None
    samples: int  # round trips the figures are computed over
    history: tuple[float, ...]  # the newest round trips, oldest first

    @property
    def shard_id(self) -> int:
        return self.shard[0]

    @classmethod
    def of(
        cls, shard: tuple[int, int], stats: LatencyStats, history: tuple[float, ...]
    ) -> PingSnapshot:
        """A shard's (or a proxied bot connection's) round trips, from its live stats."""
        return cls(
            shard=shard,
            last=stats.last,
            avg=stats.avg,
            min=stats.min,
            p50=stats.p50,
            p95=stats.p95,
            max=stats.max,
            samples=stats.samples,
            history=history,
        )


@dataclass(frozen=True, slots=True)
class _Process(JsonForm):
    """What every answer of a running birbctl process says about the process."""

    pid: int
    command: str  # connect | tail | demo
    started: float  # wall clock, unix seconds


@dataclass(frozen=True, slots=True)
class ProcessSnapshot(_Process):
    """A running birbctl process's answer to `status`: one snapshot per shard."""

    shards: tuple[ShardSnapshot, ...]

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, **_Process.to_json(self)}


@dataclass(frozen=True, slots=True)
class ProcessPings(_Process):
    """A running birbctl process's answer to `ping`."""

    shards: tuple[PingSnapshot, ...]

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, **_Process.to_json(self)}


@dataclass(frozen=True, slots=True)
class ProcessUnanswered(JsonForm):
    """A process that did not answer, refused, or answered with something unreadable."""

    pid: int
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": False, **JsonForm.to_json(self)}


# --- the one derivation -------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, JsonForm):
        return {f.name: _encode(getattr(value, f.name)) for f in _fields(type(value))}
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    return value


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)


#: Resolved field types per snapshot class (resolving reads the module's annotations).
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _decode_fields(cls: type[_T], data: Any, where: str) -> _T:
    if not isinstance(data, dict):
        raise SnapshotError(f"{where or cls.__name__}: expected an object, got {json_kind(data)}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in _fields(cls):
        at = f"{where}.{f.name}" if where else f.name
        if f.name not in data:
            raise SnapshotError(f"{at} is missing")
        values[f.name] = _decode(hints[f.name], data[f.name], at)
    return cls(**values)


def _decode(hint: Any, value: Any, at: str) -> Any:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(get_args(hint)):
            return None
        if len(options) != 1:
            raise TypeError(f"{at}: unions of two types are not supported ({hint})")
        try:
            return _decode(options[0], value, at)
        except SnapshotError:
            what = _what(options[0])
            raise SnapshotError(f"{at}: expected {what} or null, got {json_kind(value)}") from None
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(value, list):
            raise SnapshotError(f"{at}: expected an array, got {json_kind(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item, f"{at}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise SnapshotError(f"{at}: expected {len(args)} items, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_decode(a, item, f"{at}[{i}]") for i, (a, item) in pairs)
    if isinstance(hint, type) and issubclass(hint, JsonForm):
        return _decode_fields(hint, value, at)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint in (float, int, str, bool):
        raise SnapshotError(f"{at}: expected {_what(hint)}, got {json_kind(value)}")
    raise TypeError(f"{at}: no JSON form for {hint}")


def _what(hint: Any) -> str:
    names: dict[Any, str] = {
        int: "a whole number",
        float: "a number",
        str: "a string",
        bool: "true or false",
    }
    return names.get(hint, "an array" if get_origin(hint) is tuple else "an object")


def json_kind(value: Any) -> str:
    """A JSON value's type, as the JSON spec names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
