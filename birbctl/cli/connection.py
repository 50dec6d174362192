"""Options shared by the commands that open a gateway connection (connect, tail)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

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
EncodingOpt = Annotated[str, typer.Option("--encoding", help="json or etf.")]
CompressOpt = Annotated[str, typer.Option("--compress", help="zlib-stream, zstd-stream or none.")]
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


def connect_options(
    *,
    token_file: str | None,
    api_url: str,
    gateway_url: str | None,
    encoding: str,
    compress: str,
    intents: str,
    shard: str | None,
    shards: str | None,
    record: str | None,
    duration: float | None,
    command: str,
) -> Any:
    """Validate the shared options into a ConnectOptions (usage errors exit 2)."""
    from birbctl.client.runner import ConnectOptions
    from birbctl.client.shards import parse_shard
    from birbctl.errors import ConfigError
    from birbctl.protocol.intents import parse_intents

    if encoding not in ("json", "etf"):
        raise ConfigError(f"--encoding {encoding!r}: json or etf")
    if compress not in ("zlib-stream", "zstd-stream", "none"):
        raise ConfigError(f"--compress {compress!r}: zlib-stream, zstd-stream or none")
    if shard is not None and shards is not None:
        raise ConfigError("--shard and --shards do not go together")
    return ConnectOptions(
        token_file=token_file,
        api_url=api_url,
        gateway_url=gateway_url,
        encoding=encoding,  # type: ignore[arg-type]
        compress=None if compress == "none" else compress,  # type: ignore[arg-type]
        intents=parse_intents(intents),
        shard=parse_shard(shard) if shard is not None else None,
        shards=shards,
        record=record,
        duration=duration,
        command=command,
    )
