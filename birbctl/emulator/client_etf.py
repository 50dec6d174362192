"""The one ETF rule the decoder does not check: clients must send string (binary) map
keys; Discord closes with 4002 when a client sends atom keys, as erlpack would by mistake.

The decoder turns atoms and binaries into the same str, so the rule is checked on the
bytes: a walk over the term's structure (payloads are at most 4096 bytes, so cheap).
"""

from __future__ import annotations

import struct

_ATOMS = frozenset((100, 115, 118, 119))  # ATOM_EXT, SMALL_ATOM_EXT, ATOM_UTF8_EXT, SMALL_...
_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_FIXED = {97: 1, 98: 4, 70: 8, 99: 31, 106: 0}  # tag -> bytes after the tag


def has_atom_keys(data: bytes) -> bool:
    """True if any map key in the ETF message is an atom. Malformed input returns False:
    the decoder reports it, with a better message."""
    n = len(data)
    pos = 1  # after the version byte
    # Each frame: [terms left, 1 if a map (keys at even counts)].
    stack: list[list[int]] = [[1, 0]]
    try:
        while stack:
            top = stack[-1]
            if top[0] == 0:
                stack.pop()
                continue
            is_key = top[1] == 1 and top[0] % 2 == 0
            top[0] -= 1
            if pos >= n:
                return False
            tag = data[pos]
            if is_key and tag in _ATOMS:
                return True
            if tag in _FIXED:
                pos += 1 + _FIXED[tag]
            elif tag in (100, 118, 107):
                pos += 3 + _U16(data, pos + 1)[0]
            elif tag in (115, 119):
                pos += 2 + data[pos + 1]
            elif tag == 109:
                pos += 5 + _U32(data, pos + 1)[0]
            elif tag == 110:
                pos += 3 + data[pos + 1]
            elif tag == 111:
                pos += 6 + _U32(data, pos + 1)[0]
            elif tag == 104:
                stack.append([data[pos + 1], 0])
                pos += 2
            elif tag == 105:
                stack.append([_U32(data, pos + 1)[0], 0])
                pos += 5
            elif tag == 108:
                stack.append([_U32(data, pos + 1)[0] + 1, 0])  # elements, then the tail
                pos += 5
            elif tag == 116:
                stack.append([2 * _U32(data, pos + 1)[0], 1])
                pos += 5
            else:
                return False
            if len(stack) > 600:
                return False
    except (IndexError, struct.error):
        return False
    return False
