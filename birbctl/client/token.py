"""Where the bot token comes from: DISCORD_TOKEN or a file, never argv (argv shows in
`ps`, shell history and CI logs)."""

from __future__ import annotations

import os
from pathlib import Path

from birbctl.errors import ConfigError

ENV_VAR = "DISCORD_TOKEN"


def load_token(token_file: str | None = None, *, environ: dict[str, str] | None = None) -> str:
    """The raw token (without a "Bot " prefix). The error never echoes what was read."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise ConfigError(f"--token-file {token_file}: {reason}") from None
        source = f"--token-file {token_file}"
    else:
        text = env.get(ENV_VAR, "")
        source = ENV_VAR
        if not text.strip():
            raise ConfigError(
                f"no token: set {ENV_VAR} or pass --token-file FILE "
                "(tokens are never taken from the command line)"
            )
    token = text.strip()
    if token.lower().startswith("bot "):
        token = token[4:].strip()
    if not token or any(c.isspace() for c in token):
        raise ConfigError(f"{source} does not hold a single bot token")
    return token
