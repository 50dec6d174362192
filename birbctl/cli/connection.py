"""Options shared by several commands: a gateway connection's (connect, tail, demo) and
the packet filters (tail, decode).

Each option is declared once, on a field of an option group: a frozen dataclass whose
fields are typer options. A command takes the group as one parameter
(`options: ConnectionOptions`); cli/app.py spreads the group's fields into the
command's signature for typer and builds the group back from what typer parsed. So
the declarations, the defaults and the checks of these options exist only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from birbctl.options import DEFAULT_API_URL
from birbctl.protocol.wire import Compression, Direction, Encoding

if TYPE_CHECKING:
    from birbctl.capture.filters import PacketFilter
    from birbctl.client.runner import ConnectOptions, View
    from birbctl.metrics.address import MetricsAddress

TokenFile = Annotated[
    str | None,
    typer.Option(
        "--token-file",
        help="File holding the bot token. Default: the DISCORD_TOKEN environment variable "
        "(never a command-line argument: those show in process listings).",
    ),
]
ApiUrl = Annotated[
    str,
    typer.Option(help="REST API base, for GET /gateway/bot.", envvar="BIRBCTL_API_URL"),
]
GatewayUrl = Annotated[
    str | None,
    typer.Option(
        help="Connect here instead of asking GET /gateway/bot (e.g. ws://127.0.0.1:8080)."
    ),
]
EncodingOpt = Annotated[Encoding, typer.Option("--encoding", help="Payload encoding.")]
CompressOpt = Annotated[Compression, typer.Option("--compress", help="Transport compression.")]
IntentsOpt = Annotated[
    str,
    typer.Option(help="Intent names (GUILDS,GUILD_MESSAGES), a number, 'default' or 'all'."),
]
ShardOpt = Annotated[str | None, typer.Option("--shard", help="Run one shard: ID/COUNT.")]
ShardsOpt = Annotated[
    str | None, typer.Option("--shards", help="Run N shards, or 'auto' (GET /gateway/bot).")
]
RecordOpt = Annotated[
    str | None, typer.Option("--record", help="Write every frame to this capture file (0600).")
]
DurationOpt = Annotated[
    float | None, typer.Option("--duration", help="Stop after this many seconds.", min=0)
]
MetricsOpt = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        metavar="[HOST:]PORT",
        help="Serve Prometheus metrics at http://HOST:PORT/metrics (HOST defaults to "
        "127.0.0.1; 0 picks a free port; the URL is printed). See docs/monitoring.md.",
    ),
]


def metrics_address(spec: str | None) -> MetricsAddress | None:
    """--metrics checked (a bad one is a usage error, exit 2); None without the flag."""
    if spec is None:
        return None
    from birbctl.metrics.address import parse_metrics_address

    return parse_metrics_address(spec)


def with_metrics(view: View, spec: str | None, command: str) -> View:
    """`view`, also serving the shards' metrics when --metrics is given (connect, tail,
    demo); prometheus_client is imported only then."""
    address = metrics_address(spec)
    if address is None:
        return view
    from birbctl.metrics.view import MetricsView

    return MetricsView(view, address, command)


@dataclass(frozen=True, slots=True)
class WireOptions:
    """--encoding and --compress: what a connection asks the gateway for."""

    encoding: EncodingOpt = Encoding.JSON
    compress: CompressOpt = Compression.ZLIB_STREAM


@dataclass(frozen=True, slots=True)
class RunOptions:
    """--record and --duration: what any live run can be told to do."""

    record: RecordOpt = None
    duration: DurationOpt = None


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """Every option of a command that connects to a real gateway (connect, tail)."""

    token_file: TokenFile = None
    api_url: ApiUrl = DEFAULT_API_URL
    gateway_url: GatewayUrl = None
    wire: WireOptions = WireOptions()
    intents: IntentsOpt = "default"
    shard: ShardOpt = None
    shards: ShardsOpt = None
    run: RunOptions = RunOptions()

    def connect_options(self, command: str) -> ConnectOptions:
        """The checked options the runner takes (usage errors exit 2)."""
        from birbctl.client.runner import ConnectOptions
        from birbctl.client.shards import parse_shard
        from birbctl.errors import ConfigError
        from birbctl.protocol.intents import parse_intents

        if self.shard is not None and self.shards is not None:
            raise ConfigError("--shard and --shards do not go together")
        return ConnectOptions(
            token_file=self.token_file,
            api_url=self.api_url,
            gateway_url=self.gateway_url,
            encoding=self.wire.encoding,
            compress=self.wire.compress,
            intents=parse_intents(self.intents),
            shard=parse_shard(self.shard) if self.shard is not None else None,
            shards=self.shards,
            record=self.run.record,
            duration=self.run.duration,
            command=command,
        )


EventOpt = Annotated[
    list[str] | None,
    typer.Option("--event", "-e", help="Only dispatches of this type (glob, repeatable)."),
]
OpOpt = Annotated[
    list[str] | None,
    typer.Option("--op", help="Only this opcode, a number or a name (repeatable)."),
]
DirectionOpt = Annotated[
    Direction | None, typer.Option("--dir", help="Only packets going this way.")
]
NoHeartbeatsOpt = Annotated[
    bool, typer.Option("--no-heartbeats", help="Hide HEARTBEAT and HEARTBEAT_ACK.")
]


@dataclass(frozen=True, slots=True)
class FilterOptions:
    """Which packets `tail` prints and `decode` keeps."""

    event: EventOpt = None
    op: OpOpt = None
    direction: DirectionOpt = None
    no_heartbeats: NoHeartbeatsOpt = False

    def packet_filter(self) -> PacketFilter:
        """The filter these options ask for (a bad --op is a usage error, exit 2)."""
        from birbctl.capture.filters import PacketFilter

        return PacketFilter.build(
            self.event or (), self.op or (), self.direction, not self.no_heartbeats
        )


#: No filter: every packet. The default of a command that takes FilterOptions after
#: options with defaults of their own.
EVERY_PACKET = FilterOptions()
