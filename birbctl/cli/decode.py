"""`birbctl decode`: print what captured gateway bytes say."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from birbctl.cli.connection import EVERY_PACKET, FilterOptions
from birbctl.options import DecodeOutput, SourceFormat

if TYPE_CHECKING:
    from birbctl.capture.message import Message
    from birbctl.capture.skips import SkipCounter

FROM_HELP = "Force the input format (default: detected from the first bytes)."
TO_HELP = (
    "Output: jsonl (one JSON object a line: {ts, dir, shard, op, t, s, d} for captures and HAR, "
    "the payload itself for raw files), json (one JSON array of the same objects), "
    "pretty (one readable line per packet), etf (client-style ETF bytes of each payload)."
)


def decode(
    files: Annotated[list[str], typer.Argument(help="Files to decode; - reads stdin.")],
    from_: Annotated[SourceFormat | None, typer.Option("--from", help=FROM_HELP)] = None,
    to: Annotated[DecodeOutput, typer.Option("--to", help=TO_HELP)] = DecodeOutput.JSONL,
    only: FilterOptions = EVERY_PACKET,
    stats: Annotated[
        bool, typer.Option("--stats", help="Print a table of counts and sizes instead.")
    ] = False,
    keep_going: Annotated[
        bool,
        typer.Option(
            "--keep-going",
            "-k",
            help="Skip undecodable frames and count them (exit 3 at the end if any).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Write --to etf bytes even to a terminal.")
    ] = False,
) -> None:
    """Decode captures, HAR files, raw ETF, JSON, JSON Lines, raw zlib-stream or zstd-stream.

    Exit 3 on the first frame that cannot be decoded (file:frame N:byte M: what); with
    --keep-going, every good message is printed first and the exit is still 3.
    """
    import sys

    from birbctl.capture.sources import iter_messages
    from birbctl.cli.output import stdout_blocks, stdout_pipe
    from birbctl.errors import ConfigError, DecodeError

    if to is DecodeOutput.ETF and not stats and not force and sys.stdout.isatty():
        raise ConfigError("refusing to write ETF bytes to a terminal; redirect it, or --force")
    # No filter asked for: the filter module (and the opcode tables) is not even imported.
    keep = None if only == EVERY_PACKET else only.packet_filter()
    skips: SkipCounter | None = None
    if keep_going:
        from birbctl.capture.skips import SkipCounter

        skips = SkipCounter()
    current = [files[0] if files else "-"]  # the file being read, to locate output errors

    def messages() -> Iterator[Message]:
        # One file, no filter (the usual case): its messages without a generator frame
        # of ours on top, a cost paid per message.
        if len(files) == 1 and (keep is None or keep.empty):
            if skips is not None:
                skips.file = files[0]
            return iter_messages(files[0], from_, on_error=skips)
        return every_file()

    def every_file() -> Iterator[Message]:
        for name in files:
            current[0] = name
            if skips is not None:
                skips.file = name
            found = iter_messages(name, from_, on_error=skips)
            if keep is None or keep.empty:
                yield from found
            else:
                yield from filter(keep.matches, found)

    with stdout_pipe():
        try:
            if stats:
                _print_stats(messages(), skips)
            elif to is DecodeOutput.PRETTY:
                from birbctl.render.console import make_console
                from birbctl.render.packets import print_packets

                print_packets(messages(), make_console(), on_error=skips)
            else:
                from birbctl.capture import emit

                write = {
                    DecodeOutput.JSONL: emit.write_jsonl,
                    DecodeOutput.JSON: emit.write_json,
                    DecodeOutput.ETF: emit.write_etf,
                }[to]
                if "-" in files:  # a pipe may be live: show each message as it comes
                    write(messages(), sys.stdout.buffer, flush=True, on_error=skips)
                else:
                    with stdout_blocks() as out:
                        write(messages(), out, on_error=skips)
        except DecodeError as exc:  # found on output (a message nested too deep)
            raise exc.located(file=current[0]) from None
    if skips is not None:
        skips.check()


def _print_stats(messages: Iterable[Message], skips: SkipCounter | None) -> None:
    from birbctl.capture.stats import PacketStats
    from birbctl.render.console import make_console
    from birbctl.render.stats import stats_view

    totals = PacketStats()
    for message in messages:
        totals.add(message)
    make_console().print(stats_view(totals, skipped=skips.count if skips else 0))


def register(app: typer.Typer) -> None:
    app.command("decode")(decode)
