"""`--metrics [HOST:]PORT`: where the endpoint listens. Plain Python (the CLI checks
the flag before anything imports prometheus_client).

Only a PORT binds loopback (127.0.0.1). A HOST written out is taken as asked, loopback
or not: the endpoint serves counts and states, never a token or an id of a user, guild
or message, and a Prometheus on another machine can only scrape an address it reaches.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from birbctl.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class MetricsAddress:
    host: str  # an IP address or a host name; IPv6 without brackets
    port: int  # 0: a free port, chosen when binding

    def url(self, port: int | None = None) -> str:
        """The endpoint's URL, on `port` (the bound one) if given."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}/metrics"


def parse_metrics_address(text: str) -> MetricsAddress:
    """`9464`, `127.0.0.1:9464`, `0.0.0.0:9464`, `[::1]:9464`, `localhost:0`."""
    spec = text.strip()
    host, sep, port_text = spec.rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    elif host.startswith("["):
        if not host.endswith("]"):
            raise ConfigError(f"--metrics {text!r}: an IPv6 host goes in brackets, [::1]:9464")
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"--metrics {text!r}: write an IPv6 host in brackets, [::1]:9464")
    if not host:
        raise ConfigError(f"--metrics {text!r}: expected [HOST:]PORT, like 127.0.0.1:9464")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"--metrics {text!r}: expected [HOST:]PORT, like 9464") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--metrics {text!r}: the port must be 0 to 65535")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"--metrics {text!r}: {host} is not an IPv6 address") from None
    return MetricsAddress(host, port)
