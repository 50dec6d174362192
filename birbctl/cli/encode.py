"""`birbctl encode`: craft gateway payloads as ETF (or normalised JSON) from JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import typer

from birbctl.options import EncodeOutput, EtfStyle

TO_HELP = "Output: etf (binary terms) or json (one compact JSON document a line)."
STYLE_HELP = (
    "ETF style: client (string keys, as a client must send) or server (atom keys, "
    "snowflakes as integers, as the gateway sends)."
)


def encode(
    file: Annotated[str, typer.Argument(help="JSON or JSON Lines input; - reads stdin.")],
    to: Annotated[EncodeOutput, typer.Option("--to", help=TO_HELP)] = EncodeOutput.ETF,
    style: Annotated[EtfStyle, typer.Option("--style", help=STYLE_HELP)] = EtfStyle.CLIENT,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Write ETF bytes even to a terminal.")
    ] = False,
) -> None:
    """Encode a JSON payload (or one per line, JSON Lines) as ETF or JSON.

    Each JSON document becomes one ETF term (version byte 131 each, back to back).
    `birbctl decode` reads a single term back; snowflake-sized integers come back as
    strings, as Discord's JSON carries them.
    """
    import sys

    from birbctl.capture.encoder import encode_documents
    from birbctl.cli.output import stdout_pipe
    from birbctl.errors import ConfigError

    if output is None and to is EncodeOutput.ETF and not force and sys.stdout.isatty():
        raise ConfigError(
            "refusing to write ETF bytes to a terminal; use -o FILE, redirect it, or --force"
        )
    chunks = encode_documents(file, to=to, style=style)
    if output is not None:
        _write_file(output, chunks)
        return
    with stdout_pipe():
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)


def _write_file(path: str, chunks: Iterator[bytes]) -> None:
    """Write all chunks to `path`; on an error, leave no half-written file behind."""
    import os

    from birbctl.errors import BirbError

    try:
        with open(path, "wb") as fh:
            try:
                for chunk in chunks:
                    fh.write(chunk)
            except BirbError:
                fh.close()
                os.unlink(path)
                raise
    except OSError as exc:
        raise BirbError(f"{path}: cannot write: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)
