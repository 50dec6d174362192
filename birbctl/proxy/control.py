"""`birbctl status`, `ping`, `reconnect`, `terminate` and `close` for a running proxy, and
the dashboard's keys: the shards are the bots' (proxy/rows.py), and the actions close
toward the bot while the upstream session stays resumable (proxy/link.py), so what
follows is the bot's own recovery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from birbctl.client.control import Handler
from birbctl.client.monitor import LogLine
from birbctl.client.snapshot import PingSnapshot, ShardSnapshot
from birbctl.errors import ConfigError
from birbctl.protocol.opcodes import CloseCode
from birbctl.proxy.server import ProxyServer


def act(server: ProxyServer, cmd: str, *, shard: int | None, code: int, fresh: bool) -> str:
    """Reconnect, terminate or close the open bot connections of `shard` (all: None);
    what was done, one clause per connection."""
    links = server.select(shard=None if shard is None else str(shard))
    if not links:
        which = "" if shard is None else f" of shard {shard}"
        raise ConfigError(f"no bot connection{which} is open")
    return "; ".join(
        f"bot #{number}: {link.act(cmd, code=code, fresh=fresh)}" for number, link in links
    )


def proxy_handler(server: ProxyServer) -> Handler:
    """Answers checked control requests (client/control.py parse_request) for a proxy."""

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        cmd = request["cmd"]
        # The server adds pid, command and started: with them, these are the JSON forms
        # of ProcessSnapshot and ProcessPings.
        if cmd == "status":
            return {"shards": [snap.to_json() for snap in server.rows.snapshots()]}
        if cmd == "ping":
            return {"shards": [snap.to_json() for snap in server.rows.ping_snapshots()]}
        if cmd in ("reconnect", "terminate", "close"):
            code = request.get("code", int(CloseCode.NORMAL_CLOSURE))
            fresh = request.get("fresh", False)
            return {"done": act(server, cmd, shard=request.get("shard"), code=code, fresh=fresh)}
        raise ConfigError(f"unknown command {cmd!r}")

    return handle


class ProxyBoard:
    """The dashboard's Board for a proxy: its rows, and its keys acting on the bots'
    connections as `birbctl reconnect|terminate|close` do."""

    def __init__(self, server: ProxyServer) -> None:
        self.server = server

    def snapshots(self) -> list[ShardSnapshot]:
        return self.server.rows.snapshots()

    def ping_snapshots(self) -> list[PingSnapshot]:
        return self.server.rows.ping_snapshots()

    def event_counts(self) -> list[Mapping[str, int]]:
        return self.server.rows.event_counts()

    def logs(self) -> list[LogLine]:
        return self.server.rows.logs()

    def shard_ids(self) -> list[int]:
        return self.server.rows.shard_ids()

    def reconnect(self, resume: bool = True, shard: int | None = None) -> None:
        act(self.server, "reconnect", shard=shard, code=0, fresh=not resume)

    def terminate(self, shard: int | None = None) -> None:
        act(self.server, "terminate", shard=shard, code=0, fresh=False)

    def close(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "", shard: int | None = None
    ) -> None:
        del reason  # the bot is told "birbctl close"
        act(self.server, "close", shard=shard, code=int(code), fresh=False)
