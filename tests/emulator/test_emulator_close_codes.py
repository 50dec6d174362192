"""The close code for a payload the gateway cannot take: 4002 when it cannot be decoded
in the connection's encoding or is too large, 4001 when it decodes but its op is no
opcode, 4007 when a RESUME's seq is a number but no valid seq, whatever its size."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_harness import TOKEN, GatewayClient, gateway, left_resumable, running

from birbctl.codec.etf import encode_etf
from birbctl.emulator.server import MAX_CLIENT_MESSAGE
from birbctl.protocol.opcodes import CloseCode

HEARTBEAT_JSON = '{"op":1,"d":null}'
HEARTBEAT_ETF = encode_etf({"op": 1, "d": None})


async def code_after(
    data: bytes | str, *, encoding: str = "json", compress: str | None = None
) -> int | None:
    async with running() as server, gateway(server, encoding=encoding, compress=compress) as client:
        await client.send_raw(data)
        return await client.closed_with()


async def reason_after(data: bytes | str) -> tuple[int | None, str | None]:
    async with running() as server, gateway(server) as client:
        await client.send_raw(data)
        code = await client.closed_with()
        rcvd = client.ws.protocol.close_rcvd
        return code, None if rcvd is None else rcvd.reason


# --- a. the connection's encoding decides the decoder, not the payload's first byte ------


@pytest.mark.parametrize("compress", [None, "zlib-stream"])
async def test_json_text_frame_on_etf_connection_gets_4002(compress: str | None) -> None:
    got = await code_after(HEARTBEAT_JSON, encoding="etf", compress=compress)
    assert got == CloseCode.DECODE_ERROR


@pytest.mark.parametrize("compress", [None, "zstd-stream"])
async def test_etf_binary_frame_on_json_connection_gets_4002(compress: str | None) -> None:
    got = await code_after(HEARTBEAT_ETF, encoding="json", compress=compress)
    assert got == CloseCode.DECODE_ERROR


async def test_json_in_a_binary_frame_on_json_connection_is_decoded() -> None:
    """The frame type is not the encoding: JSON bytes in a binary frame are still JSON."""
    async with running() as server, gateway(server) as client:
        await client.send_raw(HEARTBEAT_JSON.encode())
        assert (await client.recv())["op"] == 11


async def test_etf_connection_still_takes_etf() -> None:
    async with running() as server, gateway(server, encoding="etf") as client:
        await client.send_raw(HEARTBEAT_ETF)
        assert (await client.recv())["op"] == 11


# --- b. too large: the emulator's own 4002, up to a bounded frame size ------------------


@pytest.mark.parametrize("size", [4097, 64 * 1024 + 1, MAX_CLIENT_MESSAGE])
async def test_payload_over_4096_bytes_gets_4002_payload_too_large(size: int) -> None:
    payload = '{"op":1,"d":"' + "x" * (size - 16) + '"}'
    assert len(payload) == size - 1
    code, reason = await reason_after(payload + " ")
    assert code == CloseCode.DECODE_ERROR
    assert reason is not None and "too large" in reason.lower()


async def test_frame_over_the_read_bound_gets_1009_from_websockets() -> None:
    """Past MAX_CLIENT_MESSAGE the websocket layer refuses to buffer the frame (1009,
    message too big): the bound that keeps one client from making the emulator hold an
    unbounded message."""
    assert await code_after(b"x" * (MAX_CLIENT_MESSAGE + 1)) == 1009


async def test_4096_bytes_is_still_fine() -> None:
    payload = '{"op":1,"d":"' + "x" * (4096 - 16) + '"}'
    async with running() as server, gateway(server) as client:
        await client.send_raw(payload + " ")
        assert (await client.recv())["op"] == 11


# --- c. numbers: an op that is no opcode is 4001, whatever its size or type -------------


@pytest.mark.parametrize(
    "op",
    [
        "18446744073709551616",  # 2**64: orjson turns it into a float
        "340282366920938463463374607431768211456",  # 2**128
        "1" + "0" * 400,  # past a double: orjson refuses it
        "-1",
        "-9223372036854775809",
        "2.5",
        "2.0",
        "1e400",
        "99",
    ],
)
async def test_json_op_that_is_no_opcode_gets_4001(op: str) -> None:
    assert await code_after('{"op":' + op + ',"d":null}') == CloseCode.UNKNOWN_OPCODE


@pytest.mark.parametrize(
    "op",
    [2**70, 2**64, -(2**70), 2 ** (8 * 300), -1, 2.5, 1.0],
    ids=["2**70", "2**64", "-2**70", "large-big", "-1", "2.5", "1.0"],
)
async def test_etf_op_that_is_no_opcode_gets_4001(op: Any) -> None:
    data = encode_etf({"op": op, "d": None})
    assert data[13] in (97, 98, 70, 110, 111)  # small int, int, float, small/large big
    assert await code_after(data, encoding="etf") == CloseCode.UNKNOWN_OPCODE


@pytest.mark.parametrize("op", ['"1"', "true", "null", "[1]", "{}"])
async def test_json_op_that_is_no_number_gets_4002(op: str) -> None:
    assert await code_after('{"op":' + op + ',"d":null}') == CloseCode.DECODE_ERROR


async def test_missing_op_and_non_object_get_4002() -> None:
    assert await code_after('{"d":null}') == CloseCode.DECODE_ERROR
    assert await code_after("[1, 2]") == CloseCode.DECODE_ERROR


# --- c. seq: a RESUME's seq that is a number but no valid seq is 4007 -------------------


async def resume_code(seq_json: str | None, seq_etf: Any = None) -> int | None:
    async with running(guilds=1) as server:
        session_id, _ = await left_resumable(server)
        encoding = "json" if seq_json is not None else "etf"
        async with gateway(server, encoding=encoding) as client:
            if seq_json is not None:
                d = f'{{"token":"{TOKEN}","session_id":"{session_id}","seq":{seq_json}}}'
                await client.send_raw('{"op":6,"d":' + d + "}")
            else:
                d = {"token": TOKEN, "session_id": session_id, "seq": seq_etf}
                await client.send_raw(encode_etf({"op": 6, "d": d}))
            return await client.closed_with()


@pytest.mark.parametrize(
    "seq", ["18446744073709551616", "1" + "0" * 400, "-1", "1.5", "1.0", "1e400"]
)
async def test_json_resume_seq_that_is_no_seq_gets_4007(seq: str) -> None:
    assert await resume_code(seq) == CloseCode.INVALID_SEQ


@pytest.mark.parametrize(
    "seq", [2**70, 2 ** (8 * 300), -(2**70), 1.5], ids=["2**70", "large-big", "-2**70", "1.5"]
)
async def test_etf_resume_seq_that_is_no_seq_gets_4007(seq: Any) -> None:
    assert await resume_code(None, seq) == CloseCode.INVALID_SEQ


@pytest.mark.parametrize("seq", ['"1"', "true", "[1]"])
async def test_resume_seq_that_is_no_number_gets_4002(seq: str) -> None:
    assert await resume_code(seq) == CloseCode.DECODE_ERROR


async def test_resume_with_a_good_seq_still_resumes() -> None:
    async with running(guilds=1) as server:
        session_id, _ = await left_resumable(server)
        async with gateway(server) as client:
            await client.send({"op": 6, "d": {"token": TOKEN, "session_id": session_id, "seq": 2}})
            payload, _ = await client.recv_until(lambda p: p.get("t") == "RESUMED")
            assert payload["s"] == 3


@pytest.mark.parametrize("d", ["18446744073709551616", "1" + "0" * 400, "-1", "1.5"])
async def test_heartbeat_with_any_number_is_acked(d: str) -> None:
    """Discord does not check a heartbeat's `d` against the session; neither do we."""
    client: GatewayClient
    async with running() as server, gateway(server) as client:
        await client.send_raw('{"op":1,"d":' + d + "}")
        assert (await client.recv())["op"] == 11
