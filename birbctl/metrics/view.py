"""`--metrics` on connect, tail and demo: a View that serves the shards' metrics around
the view the command shows (dashboard, lines, tail), so every command that runs shards
through `run_connect` gets the endpoint the same way, demo's in-process emulator too."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from birbctl.metrics.address import MetricsAddress

if TYPE_CHECKING:
    from birbctl.client.runner import View
    from birbctl.client.shards import ShardManager
    from birbctl.metrics.endpoint import MetricsEndpoint


class MetricsView:
    """Serves `manager`'s shards at `address` while `inner` shows them."""

    def __init__(self, inner: View, address: MetricsAddress, command: str) -> None:
        self.inner = inner
        self.address = address
        self.command = command
        self.endpoint: MetricsEndpoint | None = None

    def attach(self, manager: ShardManager) -> None:
        from birbctl.metrics.collector import LoopBridge, ShardCollector
        from birbctl.metrics.endpoint import MetricsEndpoint

        for monitor in manager.monitors.values():
            monitor.meter_bytes()
        bridge = LoopBridge(asyncio.get_running_loop())
        collector = ShardCollector(lambda: list(manager.monitors.values()), bridge=bridge)
        endpoint = MetricsEndpoint(self.address, self.command, [collector])
        endpoint.start()
        self.endpoint = endpoint
        endpoint.announce()
        self.inner.attach(manager)

    async def run(self, manager: ShardManager, stop: asyncio.Event) -> None:
        await self.inner.run(manager, stop)

    def finish(self, manager: ShardManager) -> None:
        try:
            self.inner.finish(manager)
        finally:
            if self.endpoint is not None:
                self.endpoint.close()
