"""What the collector reads of `birbctl serve` at scrape time (plain Python)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from birbctl.emulator.server import EmulatorServer


@dataclass(frozen=True, slots=True)
class EmulatorSample:
    connections: int  # gateway websockets open now
    connections_total: int  # accepted since start
    sessions_connected: int  # session records with a connection attached
    sessions_detached: int  # waiting to be resumed (or to expire)
    messages_sent: int  # gateway messages sent: dispatches, HELLO, ACKs, op 7, op 9...
    sent_bytes: int  # their frames' bytes (compressed where the connection asked)
    faults: Mapping[tuple[str, str], int]  # (action, source) -> injected
    identify_violations: int


class EmulatorSampler:
    """Takes EmulatorSamples of one server; call it on the server's event loop.

    Faults are tallied from the server's list of injected faults as they arrive, so the
    count by kind keeps every fault even after the list (bounded) has dropped old ones.
    """

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self._seen = 0
        self._faults: Counter[tuple[str, str]] = Counter()

    def __call__(self) -> EmulatorSample:
        server = self.server
        ctx = server.ctx
        new = ctx.injected_count - self._seen
        if new > 0:
            for fault in islice(reversed(ctx.injected), new):
                self._faults[fault.fault.action, fault.source] += 1
            self._seen = ctx.injected_count
        connected = sum(1 for record in ctx.records if record.connection is not None)
        return EmulatorSample(
            connections=len(ctx.connections),
            connections_total=server.connections_accepted,
            sessions_connected=connected,
            sessions_detached=len(ctx.records) - connected,
            messages_sent=server.messages_sent,
            sent_bytes=server.bytes_sent,
            faults=dict(self._faults),
            identify_violations=ctx.identifies.violation_count,
        )
