"""`birbctl demo`: the emulator and the connect dashboard in one process, with a
scenario that shows what birbctl is for: a resume, a latency spike, an invalid session
and a dropped connection, repeating (each new session starts the timeline again)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace

from birbctl.client.runner import ConnectOptions, View, run_connect
from birbctl.emulator.config import EmulatorConfig
from birbctl.emulator.faults import Fault, FaultStep
from birbctl.emulator.server import EmulatorServer
from birbctl.protocol.wire import Compression, Encoding

#: Seconds after READY; a RESUME keeps the timeline, a fresh IDENTIFY restarts it.
DEMO_STEPS = (
    FaultStep(Fault("reconnect"), at=6),  # op 7: resume on resume_gateway_url
    FaultStep(Fault("ack_delay", ms=400), at=10),  # the latency spike...
    FaultStep(Fault("ack_delay", ms=0), at=18),  # ...and back to normal
    FaultStep(Fault("drop"), at=22),  # TCP gone without a close frame: resume
    FaultStep(Fault("invalid_session", resumable=False), at=28),  # identify afresh
)


def demo_token() -> str:
    """A throwaway token shaped like a bot token; the emulator accepts any such shape."""

    def part(n: int) -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=")

    user_id = base64.urlsafe_b64encode(b"1100000000000000005").decode().rstrip("=")
    return f"{user_id}.{part(4)}.{part(27)}"


async def run_demo(
    view: View,
    *,
    duration: float | None = None,
    record: str | None = None,
    shards: int = 1,
    encoding: Encoding = Encoding.JSON,
    compress: Compression = Compression.ZLIB_STREAM,
) -> int:
    config = replace(
        EmulatorConfig(),
        heartbeat_interval_ms=2000,
        event_rate=12.0,
        guilds=4,
        shards=shards,
        steps=DEMO_STEPS,
    )
    async with EmulatorServer(config) as server:
        options = ConnectOptions(
            gateway_url=server.gateway_url,
            intents=(1 << 0) | (1 << 9) | (1 << 10) | (1 << 11),  # guilds, messages, ...
            shards=str(shards),
            encoding=encoding,
            compress=compress,
            record=record,
            duration=duration,
            command="demo",
            token=demo_token(),
        )
        return await run_connect(options, view)
