"""Requests to a running session's control socket: a real ControlServer on a Unix
socket in a private temporary directory, as `birbctl status` reaches it (the request is
parsed inside the server's connection handler; there is no pure parsing function)."""

from __future__ import annotations

import asyncio

import orjson
from fuzzkit import Failures, bounded, examples, fuzz_settings, mutation_rounds
from fuzztargets import _control_exchange, check_control_answer
from hypothesis import given
from hypothesis import strategies as st

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_requests = st.fixed_dictionaries(
    {},
    optional={
        "cmd": st.sampled_from(["status", "ping", "reconnect", "terminate", "close", "x"])
        | _values,
        "shard": st.sampled_from([0, 1, -1, True, 2**64 - 1]) | _values,
        "code": st.sampled_from([1000, 1001, 3000, 4999, 5000, 999, True]) | _values,
        "fresh": _values,
    },
).map(orjson.dumps)

SEEDS = [
    b'{"cmd":"status"}',
    b'{"cmd":"ping","shard":0}',
    b'{"cmd":"close","code":4000}',
    b'{"cmd":"reconnect","fresh":true}',
    b'{"cmd":"terminate","shard":0}',
]


def _exchange(lines: list[bytes]) -> list[bytes]:
    lines = [line if line.endswith(b"\n") else line + b"\n" for line in lines]
    with bounded("control batch"):
        answers = asyncio.run(_control_exchange(lines))
    for line, answer in zip(lines, answers, strict=True):
        check_control_answer(line, answer)
    return answers


@fuzz_settings(40)
@given(
    st.lists(_requests | st.binary(max_size=40) | _values.map(orjson.dumps), min_size=1, max_size=8)
)
def test_control_requests(lines: list[bytes]) -> None:
    """One server per example, several connections each: every request gets one JSON
    answer with ok and, when refused, an error in words."""
    _exchange(lines)


def test_control_mutations() -> None:
    failures = Failures("control")
    batch = [data for data, _rng in mutation_rounds(SEEDS, examples(40), "control")]
    for start in range(0, len(batch), 50):
        chunk = batch[start : start + 50]
        failures.run(b"\n".join(chunk), lambda c=chunk: _exchange(c))  # type: ignore[misc]
    failures.check()


#: Past the request's nesting limit the server answers with an error, not a crash.
def test_control_every_nesting_depth() -> None:
    lines = [b"[" * d + b"]" * d for d in range(1, 200)]
    lines += [b'{"cmd":' * d + b"1" + b"}" * d for d in range(1, 200)]
    lines += [b"[" * d + b"]" * d for d in range(200, 1100, 25)]
    _exchange(lines)
