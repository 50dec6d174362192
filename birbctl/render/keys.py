"""Dashboard keys as a pure function: bytes from the terminal in, calls on the shards
out. Kept apart from the terminal and from rich so every key can be tested with a
recording stand-in for the shard manager."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from birbctl.errors import BirbError
from birbctl.protocol.opcodes import (
    CLIENT_CLOSE_CODES_TEXT,
    CLOSE_TO_RESUME,
    CloseCode,
    client_may_send,
)

#: `c` closes with this code when the prompt is confirmed empty: a 4000-range code
#: keeps the session resumable, as a debugging close usually wants.
DEFAULT_CLOSE_CODE = CLOSE_TO_RESUME
#: The longest close code typed at the prompt (close codes have four digits).
MAX_CODE_DIGITS = 4

ESC = "esc"
ENTER = "enter"
BACKSPACE = "backspace"


class Controls(Protocol):
    """The part of ShardManager the keys drive (shard None means every shard)."""

    def reconnect(self, resume: bool = True, shard: int | None = None) -> None: ...

    def terminate(self, shard: int | None = None) -> None: ...

    def close(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "", shard: int | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the keys have set: the selected shard (None: all), an open close-code
    prompt (the digits typed so far, or None when closed), and the last message."""

    selected: int | None = None
    prompt: str | None = None
    message: str | None = None
    quit: bool = False


def split_keys(data: bytes) -> list[str]:
    """Terminal bytes as keys: printable characters, `esc`, `enter`, `backspace`.

    A lone ESC is the Esc key; ESC followed by `[` or `O` starts an escape sequence
    (arrow keys, function keys), which is skipped whole so its letters do not act.
    """
    keys: list[str] = []
    text = data.decode("utf-8", errors="ignore")
    i = 0
    while i < len(text):
        ch = text[i]
        i += 1
        if ch == "\x1b":
            if i < len(text) and text[i] in "[O":
                i += 1
                while i < len(text) and not ("\x40" <= text[i] <= "\x7e"):
                    i += 1
                i += 1  # the final byte of the sequence
            else:
                keys.append(ESC)
        elif ch in "\r\n":
            keys.append(ENTER)
        elif ch in "\x7f\x08":
            keys.append(BACKSPACE)
        elif ch.isprintable():
            keys.append(ch)
    return keys


def _target(state: KeyState) -> str:
    return "all shards" if state.selected is None else f"shard {state.selected}"


def handle_key(state: KeyState, key: str, controls: Controls, shard_ids: Sequence[int]) -> KeyState:
    """One key: act on the selected shard (or all) and say what was done.

    A refused action (say, terminate with no connection) becomes the message rather
    than an exception: a key press must never end the birbctl process it steers.
    """
    if state.prompt is not None:
        return _prompt_key(state, key, controls)
    try:
        if key == "r":
            controls.reconnect(True, state.selected)
            return replace(state, message=f"reconnecting {_target(state)} to resume")
        if key == "R":
            controls.reconnect(False, state.selected)
            return replace(state, message=f"reconnecting {_target(state)} with a new identify")
        if key == "t":
            controls.terminate(state.selected)
            return replace(state, message=f"terminated {_target(state)} (socket dropped)")
    except BirbError as exc:
        return replace(state, message=f"{_target(state)}: {exc}")
    if key == "c":
        return replace(state, prompt="", message=None)
    if key == "q":
        return replace(state, quit=True, message="quitting: closing the shards")
    if key.isdigit() and len(shard_ids) > 1:
        shard = int(key)
        if shard not in shard_ids:
            return replace(state, message=f"no shard {shard} here")
        if state.selected == shard:
            return replace(state, selected=None, message="selected all shards")
        return replace(state, selected=shard, message=f"selected shard {shard}")
    if key in ("a", ESC) and state.selected is not None:
        return replace(state, selected=None, message="selected all shards")
    return state


def _prompt_key(state: KeyState, key: str, controls: Controls) -> KeyState:
    """Digits, Backspace, Enter (an empty code means the default) or Esc."""
    typed = state.prompt or ""
    if key == ESC:
        return replace(state, prompt=None, message="close cancelled")
    if key == BACKSPACE:
        return replace(state, prompt=typed[:-1])
    if key.isdigit() and len(key) == 1:
        if len(typed) >= MAX_CODE_DIGITS:
            return state
        return replace(state, prompt=typed + key)
    if key != ENTER:
        return state
    code = int(typed) if typed else DEFAULT_CLOSE_CODE
    if not client_may_send(code):
        return replace(
            state, prompt="", message=f"cannot close with {code}: use {CLIENT_CLOSE_CODES_TEXT}"
        )
    try:
        controls.close(code, "closed from the birbctl dashboard", state.selected)
    except BirbError as exc:
        return replace(state, prompt=None, message=f"{_target(state)}: {exc}")
    return replace(state, prompt=None, message=f"closed {_target(state)} with {code}")


def feed(state: KeyState, data: bytes, controls: Controls, shard_ids: Sequence[int]) -> KeyState:
    """All the keys in one read from the terminal, in order; stops at `q`."""
    for key in split_keys(data):
        state = handle_key(state, key, controls, shard_ids)
        if state.quit:
            break
    return state
