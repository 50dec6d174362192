"""Dashboard keys as a pure function: bytes in, calls on the shard manager out."""

from __future__ import annotations

from typing import Any

from birbctl.errors import LocalProtocolError
from birbctl.render.keys import BACKSPACE, ENTER, ESC, KeyState, feed, split_keys


class Recorder:
    """Stands in for ShardManager: records what the keys asked for."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse = refuse

    def reconnect(self, resume: bool = True, shard: int | None = None) -> None:
        self.calls.append(("reconnect", resume, shard))

    def terminate(self, shard: int | None = None) -> None:
        if self.refuse:
            raise LocalProtocolError("cannot terminate: no connection")
        self.calls.append(("terminate", shard))

    def close(self, code: int = 1000, reason: str = "", shard: int | None = None) -> None:
        self.calls.append(("close", code, shard))


TWO = [0, 1]


def press(
    data: bytes,
    state: KeyState | None = None,
    shards: list[int] | None = None,
    manager: Recorder | None = None,
) -> tuple[KeyState, Recorder]:
    manager = manager or Recorder()
    return feed(state or KeyState(), data, manager, shards or TWO), manager


def test_split_keys_names_the_special_keys_and_skips_escape_sequences() -> None:
    assert split_keys(b"rR\r\n\x7f\x08\x1b") == ["r", "R", ENTER, ENTER, BACKSPACE, BACKSPACE, ESC]
    assert split_keys(b"\x1b[A\x1bOPt") == ["t"]  # arrow up, F1: no stray letters
    assert split_keys(b"\x1b[1;5Cq") == ["q"]
    assert split_keys(b"\x1b\x1b") == [ESC, ESC]
    assert split_keys(b"\x00\x01") == []


def test_r_resumes_and_R_identifies_again_on_every_shard() -> None:
    state, manager = press(b"rR")
    assert manager.calls == [("reconnect", True, None), ("reconnect", False, None)]
    assert state.message == "reconnecting all shards with a new identify"


def test_t_terminates() -> None:
    state, manager = press(b"t")
    assert manager.calls == [("terminate", None)]
    assert state.message is not None and "terminated" in state.message


def test_a_digit_selects_a_shard_and_keys_then_act_on_it_alone() -> None:
    state, manager = press(b"1rt")
    assert state.selected == 1
    assert manager.calls == [("reconnect", True, 1), ("terminate", 1)]
    state, _ = press(b"1", state)  # the same digit again: back to all
    assert state.selected is None
    state, _ = press(b"0a", state)
    assert state.selected is None


def test_digits_select_nothing_with_one_shard_or_a_missing_shard() -> None:
    state, _ = press(b"0", shards=[0])
    assert state.selected is None
    state, _ = press(b"7")
    assert state.selected is None and state.message == "no shard 7 here"


def test_c_opens_the_prompt_and_enter_closes_with_the_default_code() -> None:
    state, manager = press(b"c")
    assert state.prompt == "" and manager.calls == []
    state, manager = press(b"\r", state, manager=manager)
    assert manager.calls == [("close", 4000, None)]
    assert state.prompt is None and state.message == "closed all shards with 4000"


def test_the_prompt_takes_digits_and_backspace() -> None:
    state, manager = press(b"1c40001\x7f\x7f09")  # typed 40001 -> 4000 (max 4) -> 40 -> 4009
    assert state.prompt == "4009"
    state, manager = press(b"\n", state, manager=manager)
    assert manager.calls == [("close", 4009, 1)]


def test_keys_in_the_prompt_do_not_act() -> None:
    state, manager = press(b"crRtq")
    assert manager.calls == [] and not state.quit and state.prompt == ""


def test_esc_cancels_the_prompt() -> None:
    state, manager = press(b"c42\x1b")
    assert state.prompt is None and manager.calls == []
    assert state.message == "close cancelled"


def test_an_invalid_code_keeps_the_prompt_open() -> None:
    state, manager = press(b"c1234\r")
    assert manager.calls == [] and state.prompt == ""
    assert state.message is not None and "cannot close with 1234" in state.message
    state, manager = press(b"1000\r", state, manager=manager)
    assert manager.calls == [("close", 1000, None)]


def test_q_quits_and_ignores_the_rest_of_the_read() -> None:
    state, manager = press(b"qr")
    assert state.quit and manager.calls == []


def test_a_refused_action_is_a_message_not_a_crash() -> None:
    state, manager = press(b"t", manager=Recorder(refuse=True))
    assert manager.calls == []
    assert state.message == "all shards: cannot terminate: no connection"


def test_unknown_keys_change_nothing() -> None:
    state, manager = press(b"xyz \x1b[B")
    assert state == KeyState() and manager.calls == []
