"""`birbctl status`, `ping`, `reconnect`, `terminate` and `close` for a running proxy: each
open bot connection answers as a shard does, through the same control socket and
snapshots as `connect`, and the actions close toward the bot while the upstream session
stays resumable (proxy/link.py), so what follows is the bot's own recovery."""

from __future__ import annotations

from typing import Any

from birbctl.client.control import Handler
from birbctl.client.snapshot import PingSnapshot
from birbctl.errors import ConfigError
from birbctl.proxy.relay import GatewayRelay
from birbctl.proxy.server import ProxyServer

#: How many of a connection's newest round trips `ping` shows as its history.
PING_HISTORY = 120


def proxy_handler(server: ProxyServer) -> Handler:
    """Answers checked control requests (client/control.py parse_request) for a proxy."""

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        cmd = request["cmd"]
        relays = [server.relays[n] for n in sorted(server.relays)]
        # The server adds pid, command and started: with them, these are the JSON forms
        # of ProcessSnapshot and ProcessPings.
        if cmd == "status":
            return {"shards": [relay.snapshot().to_json() for relay in relays]}
        if cmd == "ping":
            return {"shards": [ping_snapshot(relay).to_json() for relay in relays]}
        if cmd in ("reconnect", "terminate", "close"):
            shard = request.get("shard")
            links = server.select(shard=None if shard is None else str(shard))
            if not links:
                which = "" if shard is None else f" of shard {shard}"
                raise ConfigError(f"no bot connection{which} is open")
            done = [
                f"bot #{number}: "
                + link.act(cmd, code=request.get("code", 1000), fresh=request.get("fresh", False))
                for number, link in links
            ]
            return {"done": "; ".join(done)}
        raise ConfigError(f"unknown command {cmd!r}")

    return handle


def ping_snapshot(relay: GatewayRelay) -> PingSnapshot:
    """One bot connection's round trips: its heartbeats to upstream's ACKs, in ms."""
    shard = relay.snapshot().shard
    history = tuple(relay.latency.history(PING_HISTORY))
    return PingSnapshot.of(shard, relay.latency.stats(), history)
