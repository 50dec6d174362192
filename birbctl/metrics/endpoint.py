"""The `--metrics` endpoint: prometheus_client's own HTTP server on a thread, over a
registry holding only birbctl's collectors (and the process's CPU and memory)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from birbctl.errors import ConfigError
from birbctl.metrics.address import MetricsAddress
from birbctl.metrics.collector import InfoCollector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.registry import Collector


class MetricsEndpoint:
    """Serves `collectors` at http://HOST:PORT/metrics until `close()`."""

    def __init__(self, address: MetricsAddress, command: str, collectors: Iterable[Collector]):
        self.address = address
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        self.registry.register(InfoCollector(command))
        for collector in collectors:
            self.registry.register(collector)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = address.port

    @property
    def url(self) -> str:
        return self.address.url(self.port)

    def start(self) -> str:
        """Bind and serve; returns the URL (with the port chosen for port 0)."""
        try:
            server, thread = start_http_server(
                self.address.port, self.address.host, registry=self.registry
            )
        except OSError as exc:
            where = f"{self.address.host}:{self.address.port}"
            raise ConfigError(
                f"--metrics: cannot listen on {where}: {exc.strerror or exc}"
            ) from None
        self._server, self._thread = server, thread
        self.port = int(server.server_port)
        return self.url

    def announce(self, out: TextIO | None = None) -> None:
        """The line tests and people read for the bound URL: `metrics  URL`."""
        stream = sys.stderr if out is None else out
        stream.write(f"metrics  {self.url}\n")
        stream.flush()

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
