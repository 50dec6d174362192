"""`--record FILE`: every frame of every shard, as it went over the wire, into one
capture (docs/capture-format.md). Connections are numbered across shards in the order they
open; each open line names its shard. A close is "send" when birbctl closed (or dropped) the
connection, "recv" when the server or the network did."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from birbctl.capture.writer import CaptureWriter
from birbctl.client.shards import ShardManager
from birbctl.client.websocket import Websocket, WireEvent

if TYPE_CHECKING:
    from birbctl.client.runner import ConnectOptions


def record_shards(
    path: str, manager: ShardManager, url: str, options: ConnectOptions
) -> CaptureWriter:
    shards = list(manager.shards.values())
    single = shards[0].shard if len(shards) == 1 else None
    writer = CaptureWriter(
        path,
        url=shards[0].session.generate_url(),
        encoding=options.encoding,
        compress=options.compress,
        shard=single,
    )
    del url
    numbers: dict[tuple[int, int], int] = {}
    counter = itertools.count(1)

    def listen(ws: Websocket, event: WireEvent) -> None:
        key = (id(ws), event.conn)
        if event.kind == "open":
            numbers[key] = next(counter)
            writer.opened(numbers[key], shard=ws.shard, t=event.ts)
            return
        conn = numbers.get(key)
        if conn is None:
            return
        if event.kind == "close":
            writer.closed(conn, event.code, str(event.data or ""), direction=event.dir, t=event.ts)
        elif event.data is not None:
            writer.frame(conn, event.dir, event.data, t=event.ts)

    for ws in shards:
        ws.add_wire_listener(listen)
    return writer
