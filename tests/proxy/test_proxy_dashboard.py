"""The proxy's shards: one row per shard a bot identified, adding up its connections
(ProxyRows, without a socket); and the dashboard a proxy draws on a terminal, whose keys
act on the bot's connection (a real pty, a real bot, the emulator upstream)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import struct
import sys
import termios
from pathlib import Path

import orjson
from conftest import birbctl_async, running_emulator
from proxy_harness import FAST_HEARTBEATS, TOKEN, no_token
from relay_streams import FakeClock, relay_for, session_messages, upstream_frames

from birbctl.protocol.wire import Compression, Encoding
from birbctl.proxy.routes import SessionShards
from birbctl.proxy.rows import ProxyRows

IDENTIFY = orjson.dumps({"op": 2, "d": {"token": TOKEN, "shard": [2, 4]}}).decode()


def test_a_shards_row_adds_up_its_connections() -> None:
    clock = FakeClock()
    rows = ProxyRows(lambda: clock.now)
    shards = SessionShards()
    first, _ = relay_for(Encoding.JSON, Compression.NONE, clock=clock, shards=shards)
    rows.opened(1, first)
    assert rows.snapshots() == []  # no IDENTIFY yet: no shard to show
    first.from_bot(IDENTIFY)
    for frame in upstream_frames(session_messages(Encoding.JSON, 3), Encoding.JSON,
                                 Compression.NONE)[:-1]:  # fmt: skip
        first.from_upstream(frame)
    clock.now += 5
    [row] = rows.snapshots()
    assert row.shard == (2, 4) and row.status == "ready" and row.last_close is None
    assert row.connections == 1 and row.events == first.events and row.uptime == 5
    first.bot_closed(4000, "")
    rows.ended(1, first, "bot", 4000)
    [row] = rows.snapshots()
    assert row.last_close == "4000 by bot" and row.status == "reconnecting"
    # The bot resumes: a new connection, labelled from the session's shard.
    second, _ = relay_for(Encoding.JSON, Compression.NONE, clock=clock, shards=shards)
    resume = {"op": 6, "d": {"session_id": first.session_id, "seq": 1}}
    second.from_bot(orjson.dumps(resume).decode())
    second.from_upstream('{"op":0,"s":9,"t":"RESUMED","d":{}}')
    rows.opened(2, second)
    [row] = rows.snapshots()
    assert row.shard == (2, 4) and row.status == "ready"
    assert row.connections == 2 and row.resumes == 1 and row.reidentifies == 0
    assert row.events == first.events + 1
    assert (row.guilds_ready, row.guilds_expected) == (2, 2)  # from the READY before
    assert row.last_close == "4000 by bot"  # how the last connection to end ended
    rows.ended(2, second, "proxy", None)
    [row] = rows.snapshots()
    assert row.last_close == "dropped by proxy" and row.connections == 2
    [ping] = rows.ping_snapshots()
    assert ping.shard == (2, 4) and rows.shard_ids() == [2]
    assert sum(c.get("MESSAGE_CREATE", 0) for c in rows.event_counts()) == 3


def test_a_connection_that_never_identified_has_no_row() -> None:
    clock = FakeClock()
    rows = ProxyRows(lambda: clock.now)
    relay, _ = relay_for(Encoding.JSON, Compression.NONE, clock=clock)
    rows.opened(1, relay)
    rows.ended(1, relay, "bot", 1000)
    assert rows.snapshots() == [] and rows.shard_ids() == []


ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\r")


async def read_until(fd: int, seen: bytearray, pattern: bytes, timeout: float = 20) -> None:
    """Read the pty into `seen` until `pattern` shows in its text (escapes removed)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            await _read_until(fd, seen, pattern, loop)
    except TimeoutError:
        text = ANSI.sub(b"", bytes(seen))[-3000:].decode(errors="replace")
        raise AssertionError(f"no {pattern!r} on the terminal:\n{text}") from None


async def _read_until(
    fd: int, seen: bytearray, pattern: bytes, loop: asyncio.AbstractEventLoop
) -> None:
    while pattern not in ANSI.sub(b"", bytes(seen)):
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        try:
            await ready.wait()
        finally:
            loop.remove_reader(fd)
        try:
            seen += os.read(fd, 65536)
        except OSError:
            raise AssertionError(f"the terminal closed before {pattern!r}") from None


async def test_the_dashboard_shows_the_bots_shard_and_its_keys_act(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    main, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 180, 0, 0))
    async with running_emulator(**FAST_HEARTBEATS, event_rate=20) as emulator:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "birbctl", "proxy", "--upstream", emulator.rest_url,
            stdin=follower, stdout=follower, stderr=follower, env={**env, "TERM": "xterm"},
        )  # fmt: skip
        os.close(follower)
        seen = bytearray()
        bot = None
        try:
            await read_until(main, seen, b"rest     http://")
            rest = re.search(rb"rest     (http://\S+)", ANSI.sub(b"", bytes(seen)))
            assert rest is not None
            bot = asyncio.create_task(
                birbctl_async(
                    env,
                    "connect",
                    "--api-url",
                    rest.group(1).decode(),
                    "--json",
                    "--duration",
                    "8",
                )
            )
            await read_until(main, seen, b"1/1 shards ready")
            os.write(main, b"r")  # resume: the proxy closes the bot's connection, 4000
            await read_until(main, seen, b"4000 by proxy")
            await read_until(main, seen, b"bot #2 connected (resume")
            os.write(main, b"q")
            await read_until(main, seen, b"shard 0: ")  # the summary under the last frame
            async with asyncio.timeout(20):
                code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()  # it may be stuck writing to the terminal nobody reads now
                await proc.wait()
            if bot is not None:
                bot_code, out, err = await bot
            os.close(main)
    assert code == 0
    text = ANSI.sub(b"", bytes(seen)).decode(errors="replace")
    assert "last close" in text and "ping history" in text
    assert "keys act on" not in text or "shard" in text
    assert bot_code == 0, err
    no_token(text, out, err)
