"""`birbctl gateway`: GET /gateway/bot as a table."""

from __future__ import annotations

from typing import Annotated

import typer

from birbctl.cli.connection import ApiUrl, TokenFile
from birbctl.options import DEFAULT_API_URL


def gateway(
    token_file: TokenFile = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    json_out: Annotated[bool, typer.Option("--json", help="The raw JSON answer.")] = False,
) -> None:
    """Where to connect, how many shards, and how many identifies are left."""
    import asyncio
    import dataclasses

    from birbctl.client.rest import get_gateway_bot
    from birbctl.client.token import load_token

    info = dataclasses.asdict(asyncio.run(get_gateway_bot(api_url, load_token(token_file))))
    if json_out:
        import orjson

        typer.echo(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        return
    from birbctl.render.console import make_console
    from birbctl.render.tables import gateway_table

    make_console().print(gateway_table(info))


def register(app: typer.Typer) -> None:
    app.command("gateway")(gateway)
