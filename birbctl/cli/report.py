"""`birbctl report`: a capture as one self-contained HTML page of the session over time."""

from __future__ import annotations

from typing import Annotated

import typer

OUTPUT_HELP = "The HTML file to write (replaced whole, never left half-written); - for stdout."


def report(
    capture: Annotated[str, typer.Argument(help="A capture (connect/tail/demo/proxy --record).")],
    output: Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)],
) -> None:
    """Draw a recorded session: connections, closes, resumes, op 7 and op 9, heartbeat
    round trips, events per second and how long each recovery took (docs/report.md).

    The page works offline (plotly's JavaScript is inside it). Needs the report extra:
    pip install 'birbctl\\[report]'. Exit 3 when the capture cannot be decoded.
    """
    import sys

    from birbctl.report.page import render_page, require_plotly
    from birbctl.report.source import read_timeline
    from birbctl.report.write import write_atomically

    require_plotly()
    timeline, info = read_timeline(capture)
    page = render_page(timeline, info)
    if output == "-":
        from birbctl.cli.output import stdout_pipe

        with stdout_pipe():
            sys.stdout.buffer.write(page.encode("utf-8"))
            sys.stdout.buffer.flush()
        return
    write_atomically(output, page)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
