"""Whether a host is this machine: what the emulator, the proxy and their admin endpoints
accept without being told otherwise (they hand out or take bot tokens)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1 (brackets allowed, as in a URL)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def admin_allowed(request: web.BaseRequest) -> bool:
    """An admin endpoint's request comes from this machine and not from a browser page
    (no Origin): a page could otherwise reach a local port and inject faults."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    host = peer[0] if isinstance(peer, tuple) and peer else ""
    return is_loopback(str(host)) and "Origin" not in request.headers
