"""Everything `birbctl serve` can be told, in one frozen value shared by all connections."""

from __future__ import annotations

from dataclasses import dataclass, field

from birbctl.emulator.chaos import ChaosConfig
from birbctl.emulator.faults import FaultStep

#: Discord's own value; clients must follow whatever HELLO says.
DEFAULT_HEARTBEAT_INTERVAL_MS = 41250
#: Discord's documented ceiling before it asks for more shards (close 4011).
DEFAULT_MAX_GUILDS_PER_SHARD = 2500
#: Discord keeps a dropped session resumable for "a few minutes".
DEFAULT_SESSION_EXPIRY_S = 180.0
#: Dispatches kept per session for RESUME; older ones make the resume fail with 4007.
DEFAULT_REPLAY_BUFFER = 2000
#: A new bot gets 1000 identifies per 24 h.
DEFAULT_SESSION_START_TOTAL = 1000


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    #: None accepts any token shaped like a bot token; otherwise only these.
    tokens: frozenset[str] | None = None
    heartbeat_interval_ms: int = DEFAULT_HEARTBEAT_INTERVAL_MS
    #: Synthetic events per second each session receives (0 = none).
    event_rate: float = 3.0
    guilds: int = 3
    #: The shard count GET /gateway/bot recommends.
    shards: int = 1
    max_guilds_per_shard: int = DEFAULT_MAX_GUILDS_PER_SHARD
    #: Privileged intents (GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT) are
    #: "enabled in the developer portal" unless turned off, so clients work out of the box.
    allow_privileged: bool = True
    session_expiry_s: float = DEFAULT_SESSION_EXPIRY_S
    replay_buffer: int = DEFAULT_REPLAY_BUFFER
    session_start_total: int = DEFAULT_SESSION_START_TOTAL
    max_concurrency: int = 1
    #: Seconds without a heartbeat, as a multiple of the interval, before the gateway
    #: gives up on a client and closes with 4000.
    heartbeat_grace: float = 1.5
    #: Fault steps (from --fault and --scenario): `at`/`after_events` ones every new
    #: session runs through, `on` ones at the handshake points of every connection.
    steps: tuple[FaultStep, ...] = field(default_factory=tuple)
    #: Random faults across all connections (--chaos), or None.
    chaos: ChaosConfig | None = None
    seed: int | None = None
    #: A recorded session to replay to every session instead of synthetic traffic.
    replay: str | None = None
    #: Recorded pace multiplier (0 = as fast as the sockets take it).
    replay_speed: float = 1.0
    #: Start the recording over (without its GUILD_CREATE burst) when it ends.
    replay_loop: bool = False
