"""`birbctl connect` (and `demo`): token, gateway URL, shards, control socket, a view,
a recorder, a duration, Ctrl-C. The CLI module only parses options into ConnectOptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from birbctl.client.control import ControlServer, manager_handler
from birbctl.client.rest import get_gateway_bot
from birbctl.client.shards import ShardManager
from birbctl.client.signals import StopSignals
from birbctl.client.token import load_token
from birbctl.errors import EXIT_OK, BirbError, ConfigError
from birbctl.options import DEFAULT_API_URL
from birbctl.protocol.opcodes import CloseCode
from birbctl.protocol.wire import Compression, Encoding
from birbctl.tasks import cancel_and_wait

if TYPE_CHECKING:
    from birbctl.capture.writer import CaptureWriter

#: Seconds the shards get to close cleanly after Ctrl-C or --duration.
SHUTDOWN_GRACE = 5.0


class NeverReady(BirbError):
    """A shard never reached READY in the time it had: the run did not do its job."""


class View(Protocol):
    """How a running session is shown: a dashboard, plain lines, or JSON Lines."""

    def attach(self, manager: ShardManager) -> None: ...

    async def run(self, manager: ShardManager, stop: asyncio.Event) -> None: ...

    def finish(self, manager: ShardManager) -> None: ...


@dataclass(frozen=True)
class ConnectOptions:
    token_file: str | None = None
    api_url: str = DEFAULT_API_URL
    gateway_url: str | None = None
    encoding: Encoding = Encoding.JSON
    compress: Compression = Compression.ZLIB_STREAM
    intents: int = 0
    shard: tuple[int, int] | None = None
    shards: str | None = None  # "N" or "auto"
    record: str | None = None
    duration: float | None = None
    command: str = "connect"
    token: str | None = None  # only for in-process callers (demo); never from argv


async def plan_shards(options: ConnectOptions, token: str) -> tuple[str, list[int], int, int]:
    """(gateway URL, shard ids to run, shard count, max_concurrency)."""
    max_concurrency = 1
    recommended = 1
    if options.gateway_url:
        url = options.gateway_url
        if options.shards == "auto":
            raise ConfigError("--shards auto asks GET /gateway/bot; drop --gateway-url")
    else:
        bot = await get_gateway_bot(options.api_url, token)
        url = bot.url
        recommended = bot.shards
        max_concurrency = bot.session_start_limit.max_concurrency
    if options.shard is not None:
        return url, [options.shard[0]], options.shard[1], max_concurrency
    if options.shards in (None, ""):
        return url, [0], 1, max_concurrency
    if options.shards == "auto":
        count = recommended
    else:
        try:
            count = int(options.shards)
        except ValueError:
            raise ConfigError(f"--shards {options.shards!r}: a number or auto") from None
        if count < 1:
            raise ConfigError("--shards must be at least 1")
    return url, list(range(count)), count, max_concurrency


async def run_connect(options: ConnectOptions, view: View) -> int:
    """Run until the shards end, --duration passes, the view stops or a signal comes;
    returns the exit code: 0, or 128 + the signal's number (130 SIGINT, 143 SIGTERM).
    A fatal close raises GatewayClosed (exit 4); shards that never reached READY by
    the end of --duration raise NeverReady (exit 1)."""
    token = options.token or load_token(options.token_file)
    url, ids, count, max_concurrency = await plan_shards(options, token)
    manager = ShardManager(
        token,
        intents=options.intents,
        gateway_url=url,
        shard_ids=ids,
        shard_count=count,
        max_concurrency=max_concurrency,
        encoding=options.encoding,
        compress=options.compress,
    )
    del token
    view.attach(manager)
    recorder = _recorder(options, manager, url)
    stop = asyncio.Event()
    started = time.monotonic()
    signals = StopSignals(stop)
    try:
        with signals:
            async with ControlServer(manager_handler(manager), command=options.command):
                run = asyncio.create_task(manager.run(), name="birbctl-shards")
                shown = asyncio.create_task(view.run(manager, stop), name="birbctl-view")
                waiters = [run, asyncio.create_task(stop.wait())]
                timer: asyncio.Task[None] | None = None
                if options.duration is not None:
                    timer = asyncio.create_task(asyncio.sleep(options.duration))
                    waiters.append(timer)
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    ran_for = time.monotonic() - started
                    # Only a run that was meant to go on until --duration owes a READY; a
                    # signal, the view (tail --count, q) or a `birbctl close` ending it early
                    # does not.
                    owed_ready = (
                        signals.signum is None
                        and timer is not None
                        and timer.done()
                        and not run.done()
                        and not stop.is_set()
                    )
                    if not run.done():
                        manager.close(CloseCode.NORMAL_CLOSURE, "birbctl is stopping")
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(SHUTDOWN_GRACE):
                                await asyncio.shield(run)
                    stop.set()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(2):
                            await shown
                    view.finish(manager)
                    if run.done():
                        run.result()  # a fatal close raises here
                    if owed_ready:
                        _check_ready(manager, url, ran_for)
                finally:
                    await cancel_and_wait((run, shown, *waiters))
    finally:
        if recorder is not None:
            recorder.close()
    return signals.exit_code(EXIT_OK)


def _check_ready(manager: ShardManager, url: str, waited: float) -> None:
    """Raise NeverReady naming every shard that was never READY, and its last trouble."""
    missing = [m for m in manager.monitors.values() if not m.reached_ready]
    if not missing:
        return
    prefix = "could not connect: "
    parts = []
    for monitor in missing:
        why = monitor.last_trouble or f"still {monitor.ws.status.value} at {url}"
        if why.startswith(prefix):
            why = f"could not connect to {url}: {why.removeprefix(prefix)}"
        parts.append(
            f"shard {monitor.shard_id} never reached READY in {round(waited, 1):g} s: last: {why}"
        )
    raise NeverReady("; ".join(parts))


def _recorder(options: ConnectOptions, manager: ShardManager, url: str) -> CaptureWriter | None:
    if options.record is None:
        return None
    from birbctl.client.recording import record_shards

    return record_shards(options.record, manager, url, options)
