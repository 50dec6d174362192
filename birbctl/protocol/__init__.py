"""The sans-I/O gateway protocol: every rule of a Discord gateway session, no I/O.

Nothing in this package imports asyncio, websockets, typer or rich, sleeps, or reads a
clock or randomness it was not handed; `client/` drives it and `emulator/` checks it.

    opcodes    Opcode, CloseCode, the close-code policy table (resume/reidentify/fatal)
    intents    Intents, privileged intents, the --intents parser
    session    GatewaySession: events in, actions out
    events     the actions GatewaySession emits, and notifications that describe themselves
    status     Phase (the session's lifecycle and its table of allowed changes) and
               GatewayStatus (birb's eight states), read from the phase
    heartbeat  one connection's heartbeat schedule and zombie check
    latency    heartbeat round trips: history and stats
    ratelimit  120 sends / 60 s with heartbeat slots kept back; the 4096-byte cap
    backoff    reconnect delays
    payloads   IDENTIFY/RESUME/heartbeat builders and token redaction
    urls       the gateway URL and its query string
    wire       Encoding, Compression, Direction, the ETF version byte: defined once
"""
