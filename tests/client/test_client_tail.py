"""`birbctl tail` against the emulator: what it prints live is what its recording
decodes to, and the same events in JSON and in ETF decode to the same JSON."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import birbctl_async
from test_client_lifecycle import TOKEN, emulator

from birbctl.options import TailFormat


def dispatches(lines: list[dict[str, Any]], t: str) -> dict[str, Any]:
    return {r["d"]["id"]: r["d"] for r in lines if r["t"] == t}


async def test_tail_record_decodes_to_what_tail_printed(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    async with emulator(event_rate=30, heartbeat_interval_ms=700) as server:

        def tail(encoding: str) -> Any:
            return birbctl_async(
                env, "tail", "--gateway-url", server.gateway_url, "--encoding", encoding,
                "--compress", "zlib-stream", "--format", "jsonl", "--intents", "all",
                "--record", str(tmp_path / f"{encoding}.capture"), "--duration", "4",
            )  # fmt: skip

        runs = {encoding: tail(encoding) for encoding in ("etf", "json")}
        results = dict(zip(runs, await asyncio.gather(*runs.values()), strict=True))
    live: dict[str, list[dict[str, Any]]] = {}
    for encoding, (code, out, err) in results.items():
        assert code == 0, err
        assert TOKEN.encode() not in out + err
        live[encoding] = [json.loads(line) for line in out.splitlines()]
        code, decoded, err = await birbctl_async(
            env, "decode", str(tmp_path / f"{encoding}.capture")
        )
        assert code == 0, err
        # Byte for byte: the recording decodes to exactly what was printed live.
        assert decoded == out
    etf, js = live["etf"], live["json"]
    assert [r["t"] for r in etf[:3]] == [None, None, "READY"]  # HELLO, IDENTIFY, READY
    assert any(r["dir"] == "send" and r["op"] == 1 for r in etf)  # heartbeats recorded
    # Both sessions saw the same synthetic events; in ETF and JSON they decode alike,
    # snowflakes as strings.
    etf_messages, json_messages = (
        dispatches(etf, "MESSAGE_CREATE"),
        dispatches(js, "MESSAGE_CREATE"),
    )
    common = etf_messages.keys() & json_messages.keys()
    assert len(common) >= 20
    for snowflake in common:
        assert etf_messages[snowflake] == json_messages[snowflake]
        assert isinstance(etf_messages[snowflake]["channel_id"], str)


async def test_tail_filters_count_and_closed_pipe(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    async with emulator(event_rate=50) as server:
        code, out, err = await birbctl_async(
            env, "tail", "--gateway-url", server.gateway_url, "-f", "jsonl",
            "-e", "MESSAGE_*", "--dir", "recv", "-n", "5", "--intents", "all",
        )  # fmt: skip
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert len(lines) == 5
        assert all(r["t"].startswith("MESSAGE_") and r["dir"] == "recv" for r in lines)

        # `birbctl tail | head -1`: tail ends quietly, exit 0, once head has gone.
        command = (
            f"set -o pipefail; {shlex.quote(sys.executable)} -m birbctl tail "
            f"--gateway-url {shlex.quote(server.gateway_url)} | head -1"
        )
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", command,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            async with asyncio.timeout(30):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err
        assert out.count(b"\n") == 1 and b"HELLO" in out
        assert b"Traceback" not in err


# --- shards and nesting, in-process: the real client and view against the emulator ---


async def test_tail_jsonl_and_lines_name_the_shard(capsys: Any) -> None:
    import asyncio as aio
    import io

    from birbctl.capture.filters import PacketFilter
    from birbctl.client.shards import ShardManager
    from birbctl.render.tail import TailView

    async with emulator(shards=2, event_rate=40) as server:
        manager = ShardManager(
            TOKEN, intents=513, gateway_url=server.gateway_url, shard_ids=[0, 1],
            shard_count=2, max_concurrency=2,
        )  # fmt: skip
        out = io.BytesIO()
        views = [
            TailView(TailFormat.JSONL, PacketFilter(), out=out, err=io.StringIO()),
            TailView(TailFormat.LINE, PacketFilter(), err=io.StringIO()),
        ]
        for view in views:
            view.attach(manager)
        task = aio.create_task(manager.run())
        async with aio.timeout(20):  # until both shards' packets were printed
            while (
                len({line[line.find(b'"shard"') :][:14] for line in out.getvalue().splitlines()})
                < 2
            ):
                await aio.sleep(0.05)
        manager.close(1000, "done")
        async with aio.timeout(10):
            await task
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {tuple(r["shard"]) for r in records} == {(0, 2), (1, 2)}
    assert list(records[0]) == ["ts", "dir", "shard", "op", "t", "s", "d"]
    printed = capsys.readouterr().out.splitlines()
    assert any(" [0] " in line for line in printed) and any(" [1] " in line for line in printed)


def _deep(depth: int) -> bytes:
    return b'{"op":0,"t":"DEEP","s":999,"d":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("fmt", [TailFormat.JSONL, TailFormat.LINE])
@pytest.mark.parametrize("depth", [254, 255, 1025, 100_000])
async def test_tail_nested_too_deep_ends_with_one_error(fmt: TailFormat, depth: int) -> None:
    """A live packet past the nesting limit stops tail with the same error decode gives
    (exit 3 from the CLI), whether orjson refused to read it or to write it."""
    import asyncio as aio
    import io

    from birbctl.capture.filters import PacketFilter
    from birbctl.client.shards import ShardManager
    from birbctl.codec.depth import NestingError
    from birbctl.render.tail import TailView

    async with emulator(event_rate=0.001) as server:
        manager = ShardManager(
            TOKEN, intents=513, gateway_url=server.gateway_url, shard_ids=[0], shard_count=1
        )
        out = io.BytesIO()
        view = TailView(fmt, PacketFilter.build(["DEEP"]), out=out, err=io.StringIO())
        view.attach(manager)
        if fmt is TailFormat.LINE:
            from rich.console import Console

            view._console = Console(file=io.StringIO(), width=200)
        ws = manager.shards[0]
        task = aio.create_task(manager.run())
        async with aio.timeout(10):
            while not ws.is_connected() or ws.session.session_id is None:
                await aio.sleep(0.02)
        (conn,) = server.ctx.connections.values()
        conn._emit(_deep(depth))
        assert conn.wake is not None
        conn.wake()
        stopping = aio.create_task(view.run(manager, aio.Event()))
        try:
            async with aio.timeout(1 if depth <= 254 else 10):
                await stopping
        except TimeoutError:
            pass
        manager.close(1000, "done")
        async with aio.timeout(10):
            await task
    if depth <= 254:
        view.finish(manager)
        if fmt == "jsonl":
            assert json.loads(out.getvalue())["t"] == "DEEP"
        else:
            assert "DEEP" in view._console.file.getvalue()
        return
    with pytest.raises(NestingError) as info:
        view.finish(manager)
    assert str(info.value) == "shard 0, conn 1: nested deeper than 254 levels"
    assert out.getvalue() == b""
