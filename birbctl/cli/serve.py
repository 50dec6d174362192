"""`birbctl serve`: a local Discord gateway + REST emulator that misbehaves on command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from birbctl.cli.connection import MetricsOpt, metrics_address

TOKEN_HELP = (
    "Accept only this token (repeatable). Prefer --token-file: argv is visible to other "
    "users in process listings. Default: any token shaped like a bot token."
)
FAULT_HELP = (
    "A fault step, as key=value words: 'at=10 action=reconnect', 'after_events=50 "
    "action=close code=4000' (every session), 'on=identify action=drop times=2' (at a "
    "handshake point: connect, hello, identify, resume) (repeatable)."
)
CHAOS_HELP = (
    "Random faults across all connections, as key=value words: 'mean=5 "
    "faults=drop,close:4000,stall:3 triggers=connect,hello,identify,resume,live' "
    "(mean seconds between faults; seeded by --seed)."
)
REPLAY_HELP = (
    "Replay a recorded session's dispatches (a capture, HAR or JSON Lines file) to every "
    "session, instead of synthetic traffic; READY keeps the recorded user and guilds."
)
REMOTE_HELP = (
    "Allow a non-loopback --host. The emulator accepts any bot-shaped token and has an "
    "unauthenticated admin endpoint, so it is only safe on a trusted network."
)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback only by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to bind; 0 picks a free one.")] = 0,
    token: Annotated[list[str] | None, typer.Option("--token", help=TOKEN_HELP)] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="File of accepted tokens, one a line.")
    ] = None,
    heartbeat_interval: Annotated[
        int, typer.Option(help="Heartbeat interval sent in HELLO, ms.", min=100)
    ] = 41250,
    event_rate: Annotated[
        float, typer.Option(help="Synthetic events per second per session (0 = none).", min=0)
    ] = 3.0,
    guilds: Annotated[int, typer.Option(help="Guilds the bot is in.", min=0)] = 3,
    shards: Annotated[int, typer.Option(help="Shard count /gateway/bot recommends.", min=1)] = 1,
    max_guilds_per_shard: Annotated[
        int, typer.Option(help="More guilds than this on one shard closes with 4011.", min=1)
    ] = 2500,
    session_expiry: Annotated[
        float, typer.Option(help="Seconds a dropped session stays resumable.", min=0)
    ] = 180.0,
    no_privileged_intents: Annotated[
        bool,
        typer.Option(
            "--no-privileged-intents",
            help="Treat privileged intents as not enabled in the portal (IDENTIFY gets 4014).",
        ),
    ] = False,
    scenario: Annotated[
        Path | None, typer.Option(help="TOML fault timeline (see docs/emulator.md).")
    ] = None,
    fault: Annotated[list[str] | None, typer.Option("--fault", help=FAULT_HELP)] = None,
    chaos: Annotated[str | None, typer.Option("--chaos", help=CHAOS_HELP)] = None,
    max_concurrency: Annotated[
        int,
        typer.Option(
            help="max_concurrency GET /gateway/bot answers; IDENTIFYs of one bucket "
            "(shard_id % this) under 5 s apart are logged.",
            min=1,
        ),
    ] = 1,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help=REMOTE_HELP)] = False,
    seed: Annotated[int | None, typer.Option(help="Seed for the synthetic world.")] = None,
    replay: Annotated[Path | None, typer.Option(help=REPLAY_HELP)] = None,
    speed: Annotated[
        float,
        typer.Option(help="Replay pace: recorded gaps divided by this (0 = no waits).", min=0),
    ] = 1.0,
    replay_loop: Annotated[
        bool, typer.Option("--loop", help="Start the replay over when it ends.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the URLs.")] = False,
    metrics: MetricsOpt = None,
) -> None:
    """Run a Discord-compatible gateway and REST emulator on one local port."""
    import asyncio
    import signal
    import sys
    import time

    from birbctl.emulator.chaos import parse_chaos_flag
    from birbctl.emulator.config import EmulatorConfig
    from birbctl.emulator.faults import parse_fault_flag
    from birbctl.emulator.scenario import load_scenario
    from birbctl.emulator.server import EmulatorServer
    from birbctl.errors import ConfigError
    from birbctl.loopback import is_loopback

    if not allow_remote and not is_loopback(host):
        raise ConfigError(
            f"--host {host} is not a loopback address; the emulator accepts any bot token "
            "and its admin endpoint has no authentication. Pass --allow-remote to bind it "
            "anyway."
        )
    accepted = set(token or [])
    if token_file is not None:
        try:
            lines = token_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read --token-file: {exc.strerror or exc}") from None
        accepted.update(line.strip() for line in lines if line.strip())
        if not accepted:
            raise ConfigError("--token-file holds no tokens")
    if (speed != 1.0 or replay_loop) and replay is None:
        raise ConfigError("--speed and --loop need --replay CAPTURE")
    address = metrics_address(metrics)
    steps = list(load_scenario(scenario)) if scenario is not None else []
    steps += [parse_fault_flag(text) for text in fault or []]
    chaos_config = None if chaos is None else parse_chaos_flag(chaos, seed=seed)
    config = EmulatorConfig(
        host=host,
        port=port,
        tokens=frozenset(accepted) if accepted else None,
        heartbeat_interval_ms=heartbeat_interval,
        event_rate=event_rate,
        guilds=guilds,
        shards=shards,
        max_guilds_per_shard=max_guilds_per_shard,
        allow_privileged=not no_privileged_intents,
        session_expiry_s=session_expiry,
        steps=tuple(steps),
        chaos=chaos_config,
        max_concurrency=max_concurrency,
        seed=seed,
        replay=None if replay is None else str(replay),
        replay_speed=speed,
        replay_loop=replay_loop,
    )
    recording = None
    if config.replay is not None:
        from birbctl.emulator.recording import load_recording

        recording = load_recording(config.replay)  # before listening: a bad file exits 2/3

    def note(text: str) -> None:
        if not quiet:
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {text}\n")
            sys.stderr.flush()

    terminated = False

    def on_sigterm(stop: asyncio.Event) -> None:
        nonlocal terminated
        terminated = True
        stop.set()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, on_sigterm, stop)
        server = EmulatorServer(config, on_event=note, recording=recording)
        endpoint = None
        if address is not None:  # bound first: a port in use stops serve before it listens
            from birbctl.metrics.collector import EmulatorCollector, LoopBridge
            from birbctl.metrics.emulator import EmulatorSampler
            from birbctl.metrics.endpoint import MetricsEndpoint

            collector = EmulatorCollector(EmulatorSampler(server), bridge=LoopBridge(loop))
            endpoint = MetricsEndpoint(address, "serve", [collector])
            endpoint.start()
        try:
            await server.start()
        except OSError as exc:
            if endpoint is not None:
                endpoint.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        try:
            out = sys.stdout
            out.write(f"gateway  {server.gateway_url}/?v=10&encoding=json\n")
            out.write(f"rest     {server.rest_url}\n")
            out.write(f"admin    {server.admin_url}/sessions  (POST .../faults?action=...)\n")
            if endpoint is not None:
                endpoint.announce(out)
            who = "the given token(s)" if accepted else "any bot-shaped token"
            out.write(f"accepting {who}; {len(config.steps)} fault step(s); Ctrl-C stops\n")
            if chaos_config is not None:
                out.write(f"chaos    {chaos_config.describe()}\n")
            if recording is not None:
                out.write(
                    f"replay   {recording.path}: {len(recording.events)} dispatches over "
                    f"{recording.span:.1f} s, speed {speed:g}{', looped' if replay_loop else ''}"
                    f"{'' if recording.ready else '; no READY recorded, synthetic guilds'}\n"
                )
            out.flush()
            await stop.wait()
        finally:
            if endpoint is not None:
                endpoint.close()
            await server.stop()
            note("stopped")

    asyncio.run(run())
    if terminated:
        # 128 + 15, as a shell reports a process SIGTERM ended; Ctrl-C stays a clean 0.
        raise typer.Exit(128 + signal.SIGTERM)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
