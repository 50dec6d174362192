"""Files as `birbctl decode FILE` reads them, output included: captures, HAR, JSON
Lines and whatever the sniffer picks, from hypothesis and from mutations of captures made
by birbctl's own writer."""

from __future__ import annotations

import base64

import orjson
import pytest
from fuzzkit import Failures, examples, fuzz_settings, mutation_rounds
from fuzzseeds import captures, decode_inputs, hars, jsonl_file
from fuzztargets import run_capture, run_decode, run_har, run_jsonl
from hypothesis import given
from hypothesis import strategies as st

from birbctl.codec.etf import encode_etf

# --- mutations of real files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("parser", "seeds", "per_seed"),
    [
        ("capture", captures, 40),
        ("har", hars, 40),
        ("jsonl", lambda: (jsonl_file(),), 60),
        ("decode", decode_inputs, 20),
    ],
)
def test_mutations_of_real_files(parser: str, seeds: object, per_seed: int) -> None:
    run = {"capture": run_capture, "har": run_har, "jsonl": run_jsonl, "decode": run_decode}[parser]
    failures = Failures(parser)
    for data, _rng in mutation_rounds(seeds(), examples(per_seed), parser):  # type: ignore[operator]
        failures.run(data, lambda d=data: run(d))  # type: ignore[misc]
    failures.check()


def test_real_files_decode() -> None:
    """The seeds themselves decode without error: the mutations start from good files."""
    for data in (*captures(), *hars(), jsonl_file()):
        run_decode(data)


# --- hypothesis: capture lines ------------------------------------------------------------

_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=6)
)
_b64 = st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode())
_payload = st.sampled_from(
    [b'{"op":11,"d":null}', b'{"op":0,"t":"X","s":1,"d":{}}', encode_etf({"op": 1, "d": 2})]
)


@st.composite
def capture_events(draw: st.DrawFn) -> bytes:
    event: dict[str, object] = {
        "t": draw(st.floats(0, 2e9) | _scalars),
        "conn": draw(st.integers(0, 3) | _scalars),
        "dir": draw(st.sampled_from(["recv", "send", "sideways"]) | _scalars),
        "kind": draw(st.sampled_from(["binary", "text", "open", "close", "x"]) | _scalars),
        "data": draw(_b64 | _payload.map(lambda p: base64.b64encode(p).decode()) | _scalars),
    }
    for key in draw(st.lists(st.sampled_from(list(event)), max_size=2)):
        event.pop(key, None)
    if draw(st.booleans()):
        event["code"] = draw(_scalars)
    if draw(st.booleans()):
        event["redacted"] = "x"
    line = orjson.dumps(event)
    return draw(st.sampled_from([line, line[: len(line) // 2], b"[" + line + b"]", b" "]))


@st.composite
def capture_files(draw: st.DrawFn) -> bytes:
    header = {
        "format": draw(st.sampled_from(["birbctl-capture", "other"])),
        "version": draw(st.sampled_from([1, 1, 2, "1", None])),
        "encoding": draw(st.sampled_from(["json", "etf", "xml", None])),
        "compress": draw(st.sampled_from([None, "zlib-stream", "zstd-stream", "lz4", 3])),
        "shard": draw(st.sampled_from([None, [0, 1], [0], "0,1", [0.5, 1]])),
        "url": draw(st.sampled_from([None, "wss://x", 5])),
    }
    lines = [orjson.dumps(header), *draw(st.lists(capture_events(), max_size=8))]
    end = draw(st.sampled_from([b"\n", b"", b"\r\n"]))
    return b"\n".join(lines) + end


@fuzz_settings(150)
@given(capture_files())
def test_capture_files(data: bytes) -> None:
    run_capture(data)


# --- hypothesis: HAR ----------------------------------------------------------------------


@st.composite
def har_files(draw: st.DrawFn) -> bytes:
    query = draw(
        st.sampled_from(
            [
                "",
                "encoding=etf",
                "encoding=json&compress=zlib-stream",
                "compress=zstd-stream",
                "encoding=xml",
                "compress=br",
                "encoding=etf&encoding=json",
            ]
        )
    )
    message = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["send", "receive", "other"]) | _scalars,
            "time": st.floats() | _scalars,
            "opcode": st.sampled_from([1, 2, 8, 9]) | _scalars,
            "data": _b64 | _payload.map(lambda p: p.decode("latin-1")) | _scalars,
        },
    )
    entry = {
        "_resourceType": draw(st.sampled_from(["websocket", "xhr", None])),
        "request": draw(st.sampled_from([{"url": f"wss://g/?{query}"}, {}, None, "x"])),
        "_webSocketMessages": draw(st.lists(message | _scalars, max_size=6) | _scalars),
    }
    doc = draw(
        st.sampled_from(
            [{"log": {"entries": [entry]}}, {"log": {"entries": entry}}, {"log": None}, [entry]]
        )
    )
    return orjson.dumps(doc)


@fuzz_settings(250)
@given(har_files())
def test_har_files(data: bytes) -> None:
    run_har(data)


# --- hypothesis: anything at all, sniffed --------------------------------------------------


@fuzz_settings(200)
@given(
    st.binary(max_size=64)
    | st.sampled_from([b"\x83", b"\x78\x9c", b"\x28\xb5\x2f\xfd", b"{", b"[", b'{"log"']).flatmap(
        lambda head: st.binary(max_size=48).map(lambda rest: head + rest)
    )
)
def test_sniffed_files(data: bytes) -> None:
    run_decode(data)


# --- nesting depth, end to end --------------------------------------------------------------


def _json_nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _etf_nested(depth: int) -> bytes:
    return b"\x83" + b"l\x00\x00\x00\x01" * depth + b"j" * (depth + 1)


def _sweep(make: object, depths: range, fmt: str) -> list[tuple[int, str]]:
    run = run_jsonl if fmt == "jsonl" else run_decode
    failed = []
    for depth in depths:
        data = make(depth)  # type: ignore[operator]
        try:
            run(data + b"\n" if fmt == "jsonl" else data)
        except Exception as exc:
            failed.append((depth, f"{type(exc).__name__}: {exc}"[:200]))
    return failed


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_every_depth(fmt: str) -> None:
    """Every depth from 1 to past orjson's parse limit (1024): decoded, or a clean error."""
    assert _sweep(_json_nested, range(1, 1041), fmt) == []  # type: ignore[arg-type]


def test_etf_every_depth() -> None:
    """Every depth from 1 to past the ETF decoder's limit (512)."""
    assert _sweep(_etf_nested, range(1, 521), "etf") == []  # type: ignore[arg-type]
