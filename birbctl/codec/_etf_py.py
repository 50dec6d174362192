"""Pure-Python ETF codec: the fallback when the C accelerator did not build, and its reference.

The decoder treats every byte as hostile. It is iterative (an explicit stack, so deep
nesting can never exhaust Python's recursion limit), checks every length against the
bytes left before allocating anything, and caps depth and item counts. `_etf_c.c` must
produce the same values and the same error messages and offsets; the tests check that.

Error offsets point at the tag byte of the offending term, except: invalid UTF-8 points
at the first bad byte, trailing bytes at the first trailing byte, a missing term at the
end of the input, an improper list at its tail.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from birbctl.codec.depth import MAX_DEPTH
from birbctl.errors import DecodeError
from birbctl.protocol.wire import ETF_VERSION

NEW_FLOAT_EXT = 70
COMPRESSED = 80
SMALL_INTEGER_EXT = 97
INTEGER_EXT = 98
FLOAT_EXT = 99
ATOM_EXT = 100
SMALL_TUPLE_EXT = 104
LARGE_TUPLE_EXT = 105
NIL_EXT = 106
STRING_EXT = 107
LIST_EXT = 108
BINARY_EXT = 109
SMALL_BIG_EXT = 110
LARGE_BIG_EXT = 111
SMALL_ATOM_EXT = 115
MAP_EXT = 116
ATOM_UTF8_EXT = 118
SMALL_ATOM_UTF8_EXT = 119

# Longest LARGE_BIG_EXT accepted (bytes of magnitude): far beyond any snowflake, and small
# enough that int() and str() of it stay cheap.
LARGE_BIG_MAX = 1024

# Deepest container nesting the encoders produce; the decoder's default limit is the same.
MAX_ENCODE_DEPTH = MAX_DEPTH  # what every output can write (codec/depth.py)

# Every tag the ETF spec defines, so that errors can name what they reject.
TAG_NAMES: dict[int, str] = {
    70: "NEW_FLOAT_EXT",
    77: "BIT_BINARY_EXT",
    80: "COMPRESSED",
    82: "ATOM_CACHE_REF",
    88: "NEW_PID_EXT",
    89: "NEW_PORT_EXT",
    90: "NEWER_REFERENCE_EXT",
    97: "SMALL_INTEGER_EXT",
    98: "INTEGER_EXT",
    99: "FLOAT_EXT",
    100: "ATOM_EXT",
    101: "REFERENCE_EXT",
    102: "PORT_EXT",
    103: "PID_EXT",
    104: "SMALL_TUPLE_EXT",
    105: "LARGE_TUPLE_EXT",
    106: "NIL_EXT",
    107: "STRING_EXT",
    108: "LIST_EXT",
    109: "BINARY_EXT",
    110: "SMALL_BIG_EXT",
    111: "LARGE_BIG_EXT",
    112: "NEW_FUN_EXT",
    113: "EXPORT_EXT",
    114: "NEW_REFERENCE_EXT",
    115: "SMALL_ATOM_EXT",
    116: "MAP_EXT",
    117: "FUN_EXT",
    118: "ATOM_UTF8_EXT",
    119: "SMALL_ATOM_UTF8_EXT",
    120: "V4_PORT_EXT",
    121: "LOCAL_EXT",
}

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_I32 = struct.Struct(">i").unpack_from
_F64 = struct.Struct(">d").unpack_from

# Frame kinds of the explicit stack.
_TOP = 0
_MAP = 1
_LIST = 2
_TUPLE = 3

_MISSING: Any = object()
_ATOM_SPECIALS: dict[bytes, Any] = {b"true": True, b"false": False, b"nil": None}
# Discord repeats the same few hundred atoms in every payload: decode each once. Bounded
# so that hostile input with many distinct atoms cannot grow them without limit.
_ATOM_CACHE_MAX = 4096
_atom_keys: dict[bytes, str] = {}
_atom_values: dict[bytes, Any] = dict(_ATOM_SPECIALS)


# --- errors -----------------------------------------------------------------------------


def _truncated(tag: int, need: int, left: int, offset: int) -> DecodeError:
    return DecodeError(
        f"truncated {TAG_NAMES[tag]}: needs {need} bytes, {left} left", offset=offset
    )


def _end_of_input(offset: int) -> DecodeError:
    return DecodeError("truncated: input ends where a term should start", offset=offset)


def _bad_tag(tag: int, offset: int) -> DecodeError:
    if tag == COMPRESSED:
        return DecodeError("COMPRESSED term below the top level", offset=offset)
    name = TAG_NAMES.get(tag)
    if name is None:
        return DecodeError(f"unknown ETF tag {tag}", offset=offset)
    return DecodeError(f"unsupported ETF tag {tag} ({name})", offset=offset)


def _bad_key(tag: int, offset: int) -> DecodeError:
    name = TAG_NAMES.get(tag)
    if name is None:
        return DecodeError(f"unknown ETF tag {tag}", offset=offset)
    return DecodeError(f"unsupported map key type {name}", offset=offset)


def _bad_utf8(tag: int, offset: int) -> DecodeError:
    return DecodeError(f"invalid UTF-8 in {TAG_NAMES[tag]}", offset=offset)


# --- scalars shared by the key and value paths (the common ones are inlined in decode_term)


def _atom_key(raw: bytes) -> str:
    text = sys.intern(raw.decode("latin-1"))
    if len(_atom_keys) >= _ATOM_CACHE_MAX:
        _atom_keys.clear()
    _atom_keys[raw] = text
    return text


def _atom_value(raw: bytes) -> Any:
    value = _atom_key(raw)
    if len(_atom_values) >= _ATOM_CACHE_MAX:
        _atom_values.clear()
        _atom_values.update(_ATOM_SPECIALS)
    _atom_values[raw] = value
    return value


def _read_scalar(
    buf: bytes, pos: int, tag: int, bigint_as_str: bool, is_key: bool
) -> tuple[Any, int]:
    """Decode one non-container term at `pos` (its tag is `tag`); return it and the next pos.

    Holds the cases the main loop does not inline, and every map key.
    """
    end = len(buf)
    if tag in (ATOM_EXT, SMALL_ATOM_EXT, ATOM_UTF8_EXT, SMALL_ATOM_UTF8_EXT):
        if tag in (ATOM_EXT, ATOM_UTF8_EXT):
            q = pos + 3
            if q > end:
                raise _truncated(tag, 2, end - pos - 1, pos)
            n = (buf[pos + 1] << 8) | buf[pos + 2]
        else:
            q = pos + 2
            if q > end:
                raise _truncated(tag, 1, end - pos - 1, pos)
            n = buf[pos + 1]
        nxt = q + n
        if nxt > end:
            raise _truncated(tag, n, end - q, pos)
        raw = buf[q:nxt]
        if not is_key:
            special = _ATOM_SPECIALS.get(raw, _MISSING)
            if special is not _MISSING:
                return special, nxt
        if tag in (ATOM_EXT, SMALL_ATOM_EXT):
            text = _atom_keys.get(raw)
            return (text if text is not None else _atom_key(raw)), nxt
        try:
            return raw.decode("utf-8"), nxt
        except UnicodeDecodeError as exc:
            raise _bad_utf8(tag, q + exc.start) from None
    if tag == BINARY_EXT:
        q = pos + 5
        if q > end:
            raise _truncated(tag, 4, end - pos - 1, pos)
        n = _U32(buf, pos + 1)[0]
        nxt = q + n
        if nxt > end:
            raise _truncated(tag, n, end - q, pos)
        try:
            return buf[q:nxt].decode("utf-8"), nxt
        except UnicodeDecodeError as exc:
            raise _bad_utf8(tag, q + exc.start) from None
    if tag == SMALL_INTEGER_EXT:
        if pos + 2 > end:
            raise _truncated(tag, 1, end - pos - 1, pos)
        return buf[pos + 1], pos + 2
    if tag == INTEGER_EXT:
        if pos + 5 > end:
            raise _truncated(tag, 4, end - pos - 1, pos)
        return _I32(buf, pos + 1)[0], pos + 5
    if tag in (SMALL_BIG_EXT, LARGE_BIG_EXT):
        return _read_big(buf, pos, tag, bigint_as_str)
    if is_key:
        raise _bad_key(tag, pos)
    if tag == NEW_FLOAT_EXT:
        if pos + 9 > end:
            raise _truncated(tag, 8, end - pos - 1, pos)
        return _F64(buf, pos + 1)[0], pos + 9
    if tag == FLOAT_EXT:
        if pos + 32 > end:
            raise _truncated(tag, 31, end - pos - 1, pos)
        # A C-string "%.20e" padded with NULs; float() is what the C decoder calls too.
        digits = buf[pos + 1 : pos + 32].split(b"\0", 1)[0]
        try:
            return float(digits), pos + 32
        except ValueError:
            raise DecodeError("invalid FLOAT_EXT", offset=pos) from None
    raise _bad_tag(tag, pos)


def _read_big(buf: bytes, pos: int, tag: int, bigint_as_str: bool) -> tuple[Any, int]:
    end = len(buf)
    if tag == SMALL_BIG_EXT:
        q = pos + 3
        if q > end:
            raise _truncated(tag, 2, end - pos - 1, pos)
        n = buf[pos + 1]
    else:
        q = pos + 6
        if q > end:
            raise _truncated(tag, 5, end - pos - 1, pos)
        n = _U32(buf, pos + 1)[0]
        if n > LARGE_BIG_MAX:
            raise DecodeError(
                f"LARGE_BIG_EXT of {n} bytes exceeds the limit of {LARGE_BIG_MAX}", offset=pos
            )
    sign = buf[q - 1]
    if sign > 1:
        raise DecodeError(f"invalid sign byte {sign} in {TAG_NAMES[tag]}", offset=pos)
    nxt = q + n
    if nxt > end:
        raise _truncated(tag, n, end - q, pos)
    value = int.from_bytes(buf[q:nxt], "little")
    if sign:
        value = -value
    if bigint_as_str:
        try:
            return str(value), nxt
        except ValueError:  # sys.set_int_max_str_digits() set very low
            raise DecodeError("integer too large to convert to str", offset=pos) from None
    return value, nxt


# --- the decoder --------------------------------------------------------------------------


def decode_term(buf: bytes, pos: int, bigint_as_str: bool, max_depth: int, max_items: int) -> Any:
    """Decode the one term that fills `buf[pos:]` exactly (no version byte)."""
    # Deliberately repeated: this loop reads the common tags itself (atoms and binaries in
    # the map-key path and again in the value path, ints, container headers) though
    # `_read_scalar` and `_read_big` read the same layouts, because it runs once per term
    # and a call per term is the cost that matters here; rarer tags go through the helpers.
    # A fix to one copy belongs in the others (the hostile-input tests check all paths).
    end = len(buf)
    stack: list[tuple[int, Any, int, Any]] = []
    push = stack.append
    pop = stack.pop
    atom_keys = _atom_keys
    atom_values = _atom_values
    u32 = _U32
    # The frame on top of the stack lives in locals: what is being filled, how many
    # elements it still needs, and (maps) the key waiting for its value.
    kind = _TOP
    obj: Any = None
    rem = 1
    key: Any = None
    depth = 0
    items = 0
    value: Any
    while True:
        if kind == _MAP:
            if pos >= end:
                raise _end_of_input(end)
            tag = buf[pos]
            if tag == ATOM_EXT:
                q = pos + 3
                if q > end:
                    raise _truncated(tag, 2, end - pos - 1, pos)
                nxt = q + ((buf[pos + 1] << 8) | buf[pos + 2])
                if nxt > end:
                    raise _truncated(tag, nxt - q, end - q, pos)
                raw = buf[q:nxt]
                key = atom_keys.get(raw)
                if key is None:
                    key = _atom_key(raw)
                pos = nxt
            else:
                key, pos = _read_scalar(buf, pos, tag, bigint_as_str, True)

        if pos >= end:
            raise _end_of_input(end)
        tag = buf[pos]
        if tag == BINARY_EXT:
            q = pos + 5
            if q > end:
                raise _truncated(tag, 4, end - pos - 1, pos)
            nxt = q + u32(buf, pos + 1)[0]
            if nxt > end:
                raise _truncated(tag, nxt - q, end - q, pos)
            try:
                value = buf[q:nxt].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _bad_utf8(tag, q + exc.start) from None
            pos = nxt
        elif tag == ATOM_EXT:
            q = pos + 3
            if q > end:
                raise _truncated(tag, 2, end - pos - 1, pos)
            nxt = q + ((buf[pos + 1] << 8) | buf[pos + 2])
            if nxt > end:
                raise _truncated(tag, nxt - q, end - q, pos)
            raw = buf[q:nxt]
            value = atom_values.get(raw, _MISSING)
            if value is _MISSING:
                value = _atom_value(raw)
            pos = nxt
        elif tag == SMALL_INTEGER_EXT:
            if pos + 2 > end:
                raise _truncated(tag, 1, end - pos - 1, pos)
            value = buf[pos + 1]
            pos += 2
        elif tag in (MAP_EXT, LIST_EXT, SMALL_TUPLE_EXT, LARGE_TUPLE_EXT):
            if tag == SMALL_TUPLE_EXT:
                q = pos + 2
                if q > end:
                    raise _truncated(tag, 1, end - pos - 1, pos)
                n = buf[pos + 1]
            else:
                q = pos + 5
                if q > end:
                    raise _truncated(tag, 4, end - pos - 1, pos)
                n = u32(buf, pos + 1)[0]
            left = end - q
            need = 2 * n if tag == MAP_EXT else n + 1 if tag == LIST_EXT else n
            if need > left:
                what = "entries" if tag == MAP_EXT else "elements"
                raise DecodeError(
                    f"truncated {TAG_NAMES[tag]}: {n} {what} need at least {need} bytes, "
                    f"{left} left",
                    offset=pos,
                )
            if depth >= max_depth:
                raise DecodeError(f"nesting deeper than {max_depth}", offset=pos)
            items += n
            if items > max_items:
                raise DecodeError(f"more than {max_items} items", offset=pos)
            pos = q
            if n == 0:
                if tag == MAP_EXT:
                    value = {}
                else:
                    if tag == LIST_EXT:
                        if buf[pos] != NIL_EXT:
                            raise DecodeError("improper list: tail is not NIL_EXT", offset=pos)
                        pos += 1
                    value = []
            else:
                push((kind, obj, rem, key))
                depth += 1
                rem = n
                if tag == MAP_EXT:
                    kind = _MAP
                    obj = {}
                else:
                    kind = _LIST if tag == LIST_EXT else _TUPLE
                    obj = [None] * n
                continue
        elif tag == INTEGER_EXT:
            if pos + 5 > end:
                raise _truncated(tag, 4, end - pos - 1, pos)
            value = _I32(buf, pos + 1)[0]
            pos += 5
        elif tag == SMALL_BIG_EXT:
            value, pos = _read_big(buf, pos, tag, bigint_as_str)
        elif tag == NIL_EXT:
            value = []
            pos += 1
        elif tag == STRING_EXT:
            q = pos + 3
            if q > end:
                raise _truncated(tag, 2, end - pos - 1, pos)
            nxt = q + ((buf[pos + 1] << 8) | buf[pos + 2])
            if nxt > end:
                raise _truncated(tag, nxt - q, end - q, pos)
            items += nxt - q
            if items > max_items:
                raise DecodeError(f"more than {max_items} items", offset=pos)
            value = list(buf[q:nxt])
            pos = nxt
        else:
            value, pos = _read_scalar(buf, pos, tag, bigint_as_str, False)

        # Hand the finished value to its container; a container that is now full is itself
        # a finished value for the one below it.
        while True:
            if kind == _MAP:
                obj[key] = value
            elif kind == _TOP:
                if pos != end:
                    raise DecodeError("trailing bytes after term", offset=pos)
                return value
            else:
                obj[-rem] = value
            rem -= 1
            if rem:
                break
            if kind == _LIST:
                if pos >= end:
                    raise _end_of_input(end)
                if buf[pos] != NIL_EXT:
                    raise DecodeError("improper list: tail is not NIL_EXT", offset=pos)
                pos += 1
            value = obj
            kind, obj, rem, key = pop()
            depth -= 1


TermDecoder = Callable[[bytes, int, bool, int, int], Any]


def decode_compressed(
    data: bytes | bytearray | memoryview,
    bigint_as_str: bool,
    max_depth: int,
    max_items: int,
    max_size: int,
    term_decoder: TermDecoder,
) -> Any:
    """Decode `131, 80, size, zlib...`: inflate at most size+1 bytes, then the inner term.

    Shared by both decoders (the C one calls back here), so the inflate bound lives in one
    place. Errors inside the inflated term keep their inflated offset in the message.
    """
    buf = data if type(data) is bytes else memoryview(data).tobytes()
    end = len(buf)
    if end < 6:
        raise _truncated(COMPRESSED, 4, end - 2, 1)
    size = _U32(buf, 2)[0]
    if size > max_size:
        raise DecodeError(
            f"COMPRESSED term declares {size} bytes, more than max_size {max_size}", offset=1
        )
    inflater = zlib.decompressobj()
    try:
        inner = inflater.decompress(memoryview(buf)[6:], size + 1)
    except zlib.error as exc:
        raise DecodeError(f"invalid zlib data in COMPRESSED term: {exc}", offset=6) from None
    if len(inner) > size:
        raise DecodeError(
            f"COMPRESSED term inflates to more than the declared {size} bytes", offset=1
        )
    if not inflater.eof:
        raise DecodeError("truncated zlib data in COMPRESSED term", offset=end)
    if len(inner) != size:
        raise DecodeError(
            f"COMPRESSED term inflates to {len(inner)} bytes, declared {size}", offset=1
        )
    if inflater.unused_data:
        raise DecodeError(
            "trailing bytes after COMPRESSED zlib data", offset=end - len(inflater.unused_data)
        )
    try:
        return term_decoder(inner, 0, bigint_as_str, max_depth, max_items)
    except DecodeError as exc:
        raise DecodeError(
            f"{exc.message} (inside the COMPRESSED term, at inflated byte {exc.offset})",
            offset=1,
        ) from None


def decode(
    data: bytes | bytearray | memoryview,
    bigint_as_str: bool,
    max_depth: int,
    max_items: int,
    max_size: int,
) -> Any:
    """Decode a whole ETF message: version byte, then one term (maybe COMPRESSED)."""
    buf = data if type(data) is bytes else memoryview(data).tobytes()
    if not buf:
        raise DecodeError("not ETF: empty input", offset=0)
    if buf[0] != ETF_VERSION:
        raise DecodeError(
            f"not ETF: first byte is 0x{buf[0]:02x}, expected {ETF_VERSION}", offset=0
        )
    if len(buf) > 1 and buf[1] == COMPRESSED:
        return decode_compressed(buf, bigint_as_str, max_depth, max_items, max_size, decode_term)
    return decode_term(buf, 1, bigint_as_str, max_depth, max_items)


# --- the encoders -------------------------------------------------------------------------

_B_NIL_CLIENT = bytes([SMALL_ATOM_EXT, 3]) + b"nil"
_B_TRUE_CLIENT = bytes([SMALL_ATOM_EXT, 4]) + b"true"
_B_FALSE_CLIENT = bytes([SMALL_ATOM_EXT, 5]) + b"false"
_B_NIL_SERVER = bytes([ATOM_EXT, 0, 3]) + b"nil"
_B_TRUE_SERVER = bytes([ATOM_EXT, 0, 4]) + b"true"
_B_FALSE_SERVER = bytes([ATOM_EXT, 0, 5]) + b"false"
_B_NIL = bytes([NIL_EXT])

_P_TAG_U8 = struct.Struct(">BB").pack
_P_TAG_U16 = struct.Struct(">BH").pack
_P_TAG_U32 = struct.Struct(">BI").pack
_P_TAG_I32 = struct.Struct(">Bi").pack
_P_TAG_F64 = struct.Struct(">Bd").pack
_P_SMALL_BIG = struct.Struct(">BBB").pack
_P_LARGE_BIG = struct.Struct(">BIB").pack

_U32_MAX = 0xFFFFFFFF
_SNOWFLAKE_MAX = 2**64


def _enc_int(value: int, out: bytearray) -> None:
    if 0 <= value <= 255:
        out += _P_TAG_U8(SMALL_INTEGER_EXT, value)
    elif -(2**31) <= value < 2**31:
        out += _P_TAG_I32(INTEGER_EXT, value)
    else:
        sign = 1 if value < 0 else 0
        mag = -value if sign else value
        n = (mag.bit_length() + 7) // 8
        if n <= 255:
            out += _P_SMALL_BIG(SMALL_BIG_EXT, n, sign)
        elif n <= LARGE_BIG_MAX:
            out += _P_LARGE_BIG(LARGE_BIG_EXT, n, sign)
        else:
            # Our decoder (like any sane one) refuses these; do not produce them.
            raise ValueError(f"integer too large for ETF: {n} bytes (max {LARGE_BIG_MAX})")
        out += mag.to_bytes(n, "little")


def _enc_binary(text: str, out: bytearray) -> None:
    raw = text.encode("utf-8")
    if len(raw) > _U32_MAX:
        raise ValueError("string too long for ETF")
    out += _P_TAG_U32(BINARY_EXT, len(raw))
    out += raw


def _check_len(n: int) -> None:
    if n > _U32_MAX:
        raise ValueError("container too large for ETF")


def _too_deep() -> ValueError:
    return ValueError(f"nested deeper than {MAX_ENCODE_DEPTH} levels")


def _unencodable(obj: object) -> TypeError:
    return TypeError(f"cannot encode {type(obj).__name__} as ETF")


def _enc_client(obj: Any, out: bytearray, depth: int) -> None:
    cls = type(obj)
    if cls is str:
        _enc_binary(obj, out)
    elif cls is dict:
        if depth >= MAX_ENCODE_DEPTH:
            raise _too_deep()
        _check_len(len(obj))
        out += _P_TAG_U32(MAP_EXT, len(obj))
        for k, v in obj.items():
            if isinstance(k, str):
                _enc_binary(k, out)
            elif isinstance(k, int) and not isinstance(k, bool):
                _enc_int(int(k), out)
            else:
                raise TypeError(f"cannot encode a {type(k).__name__} map key as ETF")
            _enc_client(v, out, depth + 1)
    elif cls is int:
        _enc_int(obj, out)
    elif obj is None:
        out += _B_NIL_CLIENT
    elif obj is True:
        out += _B_TRUE_CLIENT
    elif obj is False:
        out += _B_FALSE_CLIENT
    elif cls is list or cls is tuple:
        if depth >= MAX_ENCODE_DEPTH:  # an empty list is a level too
            raise _too_deep()
        if not obj:
            out += _B_NIL
            return
        _check_len(len(obj))
        out += _P_TAG_U32(LIST_EXT, len(obj))
        for v in obj:
            _enc_client(v, out, depth + 1)
        out += _B_NIL
    elif cls is float:
        out += _P_TAG_F64(NEW_FLOAT_EXT, obj)
    else:
        _enc_client(_plain(obj), out, depth)


def _plain(obj: object) -> Any:
    """Subclasses (IntEnum, StrEnum, OrderedDict...) as their base type, or TypeError."""
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, str):
        return str.__str__(obj)  # str() of a (str, Enum) member would give "Cls.NAME"
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list | tuple):
        return list(obj)
    raise _unencodable(obj)


@lru_cache(maxsize=2048)
def _atom_bytes(name: str) -> bytes:
    """An atom as Discord writes it: ATOM_EXT when Latin-1 fits, the UTF-8 atoms otherwise."""
    try:
        raw = name.encode("latin-1")
    except UnicodeEncodeError:
        raw = name.encode("utf-8")
        if len(raw) <= 255:
            return _P_TAG_U8(SMALL_ATOM_UTF8_EXT, len(raw)) + raw
        tag = ATOM_UTF8_EXT
    else:
        tag = ATOM_EXT
    if len(raw) <= 0xFFFF:
        return _P_TAG_U16(tag, len(raw)) + raw
    # Too long for any atom: a binary decodes to the same str.
    return _P_TAG_U32(BINARY_EXT, len(raw)) + name.encode("utf-8")


def _snowflake(value: Any) -> Any:
    """A canonical decimal string that fits in 64 bits becomes an int; anything else stays."""
    if (
        type(value) is str
        and 0 < len(value) <= 20
        and value.isascii()
        and value.isdigit()
        and (value[0] != "0" or value == "0")
    ):
        number = int(value)
        if number < _SNOWFLAKE_MAX:
            return number
    return value


def _is_snowflake_key(key: Any) -> bool:
    return type(key) is str and (key == "id" or key.endswith("_id"))


def _is_snowflake_list_key(key: Any) -> bool:
    return type(key) is str and (key.endswith("_ids") or key == "roles")


def _enc_server(obj: Any, out: bytearray, depth: int, top: bool = False) -> None:
    cls = type(obj)
    if cls is str:
        _enc_binary(obj, out)
    elif cls is dict:
        if depth >= MAX_ENCODE_DEPTH:
            raise _too_deep()
        _check_len(len(obj))
        out += _P_TAG_U32(MAP_EXT, len(obj))
        for k, v in obj.items():
            if type(k) is str:
                out += _atom_bytes(k)
            elif isinstance(k, str):
                out += _atom_bytes(str.__str__(k))
            elif isinstance(k, int) and not isinstance(k, bool):
                _enc_int(int(k), out)
            else:
                raise TypeError(f"cannot encode a {type(k).__name__} map key as ETF")
            if isinstance(v, str):
                if type(v) is not str:
                    v = str.__str__(v)
                if top and k == "t" and v not in _ATOM_NAMES:
                    out += _atom_bytes(v)
                    continue
                if _is_snowflake_key(k):
                    v = _snowflake(v)
            elif (type(v) is list or type(v) is tuple) and _is_snowflake_list_key(k):
                v = [_snowflake(x) for x in v]
            _enc_server(v, out, depth + 1)
    elif cls is int:
        _enc_int(obj, out)
    elif obj is None:
        out += _B_NIL_SERVER
    elif obj is True:
        out += _B_TRUE_SERVER
    elif obj is False:
        out += _B_FALSE_SERVER
    elif cls is list or cls is tuple:
        if depth >= MAX_ENCODE_DEPTH:  # an empty or STRING_EXT list is a level too
            raise _too_deep()
        n = len(obj)
        if not n:
            out += _B_NIL
            return
        if n < 0x10000 and all(type(x) is int and 0 <= x <= 255 for x in obj):
            out += _P_TAG_U16(STRING_EXT, n)
            out += bytes(obj)
            return
        _check_len(n)
        out += _P_TAG_U32(LIST_EXT, n)
        for v in obj:
            _enc_server(v, out, depth + 1)
        out += _B_NIL
    elif cls is float:
        out += _P_TAG_F64(NEW_FLOAT_EXT, obj)
    else:
        _enc_server(_plain(obj), out, depth, top)


# A `t` with one of these names would come back as True/False/None if sent as an atom.
_ATOM_NAMES = frozenset(("true", "false", "nil"))


def encode(obj: Any, style: str) -> bytes:
    out = bytearray((ETF_VERSION,))
    if style == "client":
        _enc_client(obj, out, 0)
    elif style == "server":
        _enc_server(obj, out, 0, top=True)
    else:
        raise ValueError(f"unknown ETF style {style!r}: expected 'client' or 'server'")
    return bytes(out)
