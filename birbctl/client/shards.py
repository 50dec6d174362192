"""Several shards in one process: one Websocket each, one identify gate for all.

Shards start together; the shared IdentifyGate spaces their IDENTIFYs by
`max_concurrency` buckets. A fatal close on any shard stops them all (its cause is the
bot's configuration, which the other shards share).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from birbctl.client.monitor import LogLine, ShardMonitor
from birbctl.client.snapshot import PingSnapshot, ShardSnapshot
from birbctl.client.websocket import Websocket
from birbctl.errors import ConfigError, GatewayClosed
from birbctl.protocol.identify import DRIVER_MARGIN, IdentifyGate
from birbctl.protocol.opcodes import CloseCode, client_close_ends_session
from birbctl.protocol.status import GatewayStatus
from birbctl.protocol.wire import Compression, Encoding
from birbctl.tasks import cancel_and_wait


class ShardManager:
    def __init__(
        self,
        token: str,
        *,
        intents: int,
        gateway_url: str,
        shard_ids: Iterable[int],
        shard_count: int,
        max_concurrency: int = 1,
        encoding: Encoding = Encoding.JSON,
        compress: Compression = Compression.ZLIB_STREAM,
        log: Any = None,
        **options: Any,
    ) -> None:
        ids = sorted(set(shard_ids))
        if shard_count < 1 or not ids or ids[0] < 0 or ids[-1] >= shard_count:
            raise ConfigError(f"shards {ids} do not fit a shard count of {shard_count}")
        self.gate = IdentifyGate(max_concurrency, margin=DRIVER_MARGIN)
        self.shard_count = shard_count
        self.shards: dict[int, Websocket] = {}
        self.monitors: dict[int, ShardMonitor] = {}
        for shard_id in ids:
            ws = Websocket(
                token,
                intents=intents,
                gateway_url=gateway_url,
                shard=(shard_id, shard_count),
                encoding=encoding,
                compress=compress,
                identify_gate=self.gate,
                **options,
            )
            self.shards[shard_id] = ws
            self.monitors[shard_id] = ShardMonitor(ws, on_log=log)

    async def run(self) -> None:
        """Run every shard until all have ended; the first fatal close stops the rest."""
        tasks = {
            asyncio.create_task(ws.run(), name=f"birbctl-shard-{sid}"): sid
            for sid, ws in self.shards.items()
        }
        fatal: GatewayClosed | None = None
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = task.exception()
                    if exc is None:
                        continue
                    if isinstance(exc, GatewayClosed) and fatal is None:
                        fatal = exc
                        for ws in self.shards.values():
                            if ws.status is not GatewayStatus.DISCONNECTED:
                                ws.close(CloseCode.NORMAL_CLOSURE, "another shard closed fatally")
                    elif not isinstance(exc, GatewayClosed):
                        raise exc
        finally:
            await cancel_and_wait(tasks)
        if fatal is not None:
            raise fatal

    def select(self, shard: int | None) -> list[Websocket]:
        if shard is None:
            return list(self.shards.values())
        if shard not in self.shards:
            raise ConfigError(f"no shard {shard} here (shards: {sorted(self.shards)})")
        return [self.shards[shard]]

    def close(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "", shard: int | None = None
    ) -> None:
        """1000/1001 end the shards' sessions; other codes close the connection with that
        code and let the session resume, as a gateway-side debugging aid."""
        for ws in self.select(shard):
            if not client_close_ends_session(code):
                ws.reconnect(True, code=code)
            elif ws.status is not GatewayStatus.DISCONNECTED:
                # Also a shard between connections (backoff): it must not reconnect.
                ws.close(code, reason)

    def reconnect(self, resume: bool = True, shard: int | None = None) -> None:
        for ws in self.select(shard):
            ws.reconnect(resume)

    def terminate(self, shard: int | None = None) -> None:
        for ws in self.select(shard):
            ws.terminate()

    def snapshots(self) -> list[ShardSnapshot]:
        return [m.snapshot() for m in self.monitors.values()]

    def ping_snapshots(self) -> list[PingSnapshot]:
        return [m.ping_snapshot() for m in self.monitors.values()]

    def logs(self) -> list[LogLine]:
        lines = [line for m in self.monitors.values() for line in m.log]
        return sorted(lines, key=lambda line: line.at)

    def event_counts(self) -> list[Mapping[str, int]]:
        """Dispatches by event name, one mapping per shard."""
        return [m.event_types for m in self.monitors.values()]

    def shard_ids(self) -> list[int]:
        return sorted(self.shards)


def parse_shard(spec: str) -> tuple[int, int]:
    """`--shard ID/COUNT`."""
    try:
        shard_id, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {spec!r}: expected ID/COUNT, like 0/2") from None
    if count < 1 or not 0 <= shard_id < count:
        raise ConfigError(f"--shard {spec}: need 0 <= ID < COUNT")
    return shard_id, count
