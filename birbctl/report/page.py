"""The timeline as one HTML page: a summary table, one plotly figure, the tables behind it.

Self-contained: plotly's JavaScript is inlined and nothing else is referenced, so the page
opens offline and fetches nothing. The model itself is embedded as JSON
(`<script type="application/json" id="birbctl-timeline">`) for tools and tests. Every
string from the capture is escaped: event names and close reasons are untrusted text.
The page records its own script errors (`#birbctl-errors`) and sets
`data-birbctl-rendered` on <body> once the figure is drawn, so a headless browser can
tell a good render from a broken one.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from birbctl.errors import BirbError
from birbctl.protocol.opcodes import close_label
from birbctl.report.timeline import (
    CLIENT,
    DROPPED,
    SERVER,
    STILL_OPEN,
    Connection,
    Recovery,
    Shard,
)

if TYPE_CHECKING:
    from birbctl.report.source import CaptureInfo
    from birbctl.report.timeline import Timeline

DASH = "&ndash;"  # an empty cell (HTML)
MISSING_PLOTLY = "birbctl report needs plotly: pip install 'birbctl[report]'"
PLOT_ID = "birbctl-figure"

#: One colour per meaning, the same in the figure and the tables.
BEGAN_COLOURS = {"identify": "#3b6fd4", "resume": "#2e9e6a", None: "#8c8c8c"}
SIDE_WORDS = {
    CLIENT: "closed by birbctl",
    SERVER: "closed by the server",
    DROPPED: "dropped (no close frame)",
    STILL_OPEN: "still open at the end",
}
MARK_STYLES: dict[str, tuple[str, str, str]] = {  # kind -> legend name, symbol, colour
    "ready": ("READY", "diamond", "#1f3f99"),
    "resumed": ("RESUMED", "circle", "#146b45"),
    "reconnect": ("op 7 RECONNECT", "star", "#e08a00"),
    "invalid_session": ("op 9 INVALID_SESSION", "x", "#c0392b"),
}
SIDE_SYMBOLS = {CLIENT: "triangle-left", SERVER: "triangle-right", DROPPED: "x-thin-open"}
GAP_COLOUR = "rgba(192, 57, 43, 0.14)"
#: Gaps labelled on the figure (the longest); the recoveries table lists every one.
MAX_GAP_LABELS = 24
#: Gaps shaded on the figure (the longest): thousands of shapes make a browser crawl.
MAX_GAP_SHAPES = 500
#: Up to this many gaps, a dotted line marks where each began (past it, lines are noise).
MAX_GAP_LINES = 60
#: Past this many connections, the bands share one row per shard.
MAX_ROWS = 40
#: Rows of gap labels above the bands, and the share of the axis one label needs.
MAX_LANES = 3
LABEL_WIDTH = 0.1

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
  sans-serif; margin: 24px 32px; color: #1d2330; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
p.meta { color: #5a6272; margin: 0 0 16px; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6ec; text-align: left;
  vertical-align: top; }
th { color: #5a6272; font-weight: 600; }
table.summary th { width: 190px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.key { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 5px; vertical-align: baseline; }
p.help { color: #5a6272; font-size: 13px; max-width: 980px; }
#birbctl-errors { color: #c0392b; white-space: pre-wrap; }
"""

# First in <head>: records any script error (and console.error) into the page itself.
_ERROR_HOOK = """
(function () {
  function note(text) {
    var box = document.getElementById("birbctl-errors");
    var line = String(text);
    if (box) { box.hidden = false; box.textContent += line + "\\n"; }
    else { (window.__birbctlErrors = window.__birbctlErrors || []).push(line); }
  }
  window.addEventListener("error", function (e) {
    note("error: " + (e.message || (e.target && e.target.outerHTML) || "unknown"));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { note("rejection: " + e.reason); });
  var original = console.error;
  console.error = function () {
    note("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
  document.addEventListener("DOMContentLoaded", function () {
    (window.__birbctlErrors || []).forEach(note);
  });
})();
"""

# After the figure is drawn: say so, and how many resources the page fetched (none).
_RENDERED = """
var fetched = performance.getEntriesByType("resource").map(function (r) { return r.name; });
document.body.setAttribute("data-birbctl-fetched", String(fetched.length));
if (fetched.length) {
  document.getElementById("birbctl-errors").hidden = false;
  document.getElementById("birbctl-errors").textContent += "fetched: " + fetched.join(" ") + "\\n";
}
document.body.setAttribute("data-birbctl-rendered", "yes");
"""


class PlotlyMissing(BirbError):
    """plotly is an optional extra; without it the command says how to add it (exit 1)."""


def require_plotly() -> None:
    """Fail at once, before reading a large capture, when the extra is not installed."""
    try:
        import plotly  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        raise PlotlyMissing(MISSING_PLOTLY) from None


def render_page(timeline: Timeline, info: CaptureInfo) -> str:
    """The whole page as a string."""
    require_plotly()
    import plotly.graph_objects as go  # type: ignore[import-untyped]
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    figure = _figure(timeline, go, make_subplots)
    plot = figure.to_html(
        full_html=False,
        include_plotlyjs=True,
        div_id=PLOT_ID,
        post_script=_RENDERED,
        config={
            "displaylogo": False,
            "responsive": True,
            "modeBarButtonsToRemove": ["select2d", "lasso2d"],
        },
    )
    title = f"birbctl report: {info.name}"
    return "".join(
        [
            "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n",
            f"<title>{_esc(title)}</title>\n",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>\n",
            f"<style>{_CSS}</style>\n<script>{_ERROR_HOOK}</script>\n</head>\n<body>\n",
            "<pre id='birbctl-errors' hidden></pre>\n",
            "<h1>Gateway session timeline</h1>\n",
            f"<p class='meta'>{_meta(timeline, info)}</p>\n",
            _summary_table(timeline),
            _HELP,
            plot,
            "\n<h2>Connections</h2>\n",
            _times_note(timeline),
            _connections_table(timeline),
            "\n<h2>Recoveries</h2>\n",
            _recoveries_table(timeline),
            "\n<script type='application/json' id='birbctl-timeline'>",
            _json_for_script(timeline.to_json()),
            "</script>\n</body>\n</html>\n",
        ]
    )


_HELP = """
<p class='help'>Top: one band per websocket connection, coloured by how it began
(<span class='key' style='background:#3b6fd4'></span>IDENTIFY, a new session;
<span class='key' style='background:#2e9e6a'></span>RESUME), ending in a mark for who closed
it and the close code. Red shading is time the shard was down: from a close to the next
READY or RESUMED, labelled with how long that took. Middle: each heartbeat's round trip
(op 1 sent to op 11 received). Bottom: dispatches received per second, by event type.
All three share one time axis, in UTC: drag to zoom, double-click to reset, hover for
details. docs/report.md says more.</p>
"""


def _figure(timeline: Timeline, go: Any, make_subplots: Any) -> Any:
    """Three rows on one wall-clock axis (UTC), so the picture lines up with other logs."""
    conns = timeline.connections
    labels = {c.conn: _row_label(c, timeline) for c in conns}
    order = list(dict.fromkeys(labels[c.conn] for c in conns))
    band_px = max(140, 30 * len(order) + 40)
    ping_px, rate_px = 220, 260
    end = timeline.summary.duration
    clock = _Clock(timeline.start)
    lanes = _gap_labels(timeline, end)
    top = 30 + 14 * (1 + max((lane for _r, lane in lanes), default=0))
    total = band_px + ping_px + rate_px + 130 + top
    figure = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07,
        row_heights=[band_px / total, ping_px / total, rate_px / total],
        subplot_titles=(
            "",  # the gap labels go there; the legend names what the bands show
            "Heartbeat round trip (op 1 to op 11)",
            "Events per second by type",
        ),
    )
    _bands(figure, go, conns, labels, end, clock)
    _closes(figure, go, conns, labels, clock)
    _marks(figure, go, timeline, labels, clock)
    _gaps(figure, timeline, end, clock, lanes)
    _pings(figure, go, timeline, clock)
    _rates(figure, go, timeline, clock)
    pad = max(end * 0.02, 0.5)
    figure.update_xaxes(
        type="date",
        range=[clock(-pad), clock(end + pad * 4)],
        showgrid=True,
        gridcolor="#eef0f4",
    )
    figure.update_xaxes(title_text="time (UTC)", row=3, col=1)
    figure.update_yaxes(
        categoryorder="array",
        categoryarray=order,
        autorange="reversed",
        row=1,
        col=1,
        gridcolor="#f3f4f7",
    )
    pings = [p.ms for p in timeline.pings if p.ms > 0]
    if pings and max(pings) / min(pings) > 50:
        figure.update_yaxes(type="log", dtick=1, row=2, col=1)
    figure.update_yaxes(title_text="ms", row=2, col=1)
    figure.update_yaxes(rangemode="tozero", row=3, col=1, title_text="events/s")
    figure.update_layout(
        height=total,
        barmode="overlay",
        template="plotly_white",
        margin={"l": 150, "r": 40, "t": top, "b": 50},
        legend={
            "orientation": "v",
            "x": 1.01,
            "y": 1,
            "font": {"size": 11},
            "traceorder": "grouped",
            "tracegroupgap": 14,
        },
        hovermode="closest",
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial"},
    )
    return figure


class _Clock:
    """Seconds since the start as the date strings plotly reads (UTC, to the microsecond).
    Plotly shows a date string as written, so the axis reads UTC wherever it is opened."""

    def __init__(self, start: float) -> None:
        self.start = start

    def __call__(self, seconds: float) -> str:
        moment = datetime.fromtimestamp(self.start, UTC) + timedelta(seconds=seconds)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _row_label(conn: Connection, timeline: Timeline) -> str:
    """A row per connection; past MAX_ROWS connections, a row per shard (its connections
    follow one another along it), so a reconnect storm still fits on a screen."""
    if len(timeline.connections) > MAX_ROWS:
        return f"shard {_shard(conn.shard)}"
    shard = "" if len(timeline.shards) < 2 else f" · shard {_shard(conn.shard)}"
    return f"#{conn.conn}{shard}"


def _bands(
    figure: Any,
    go: Any,
    conns: list[Connection],
    labels: dict[int, str],
    end: float,
    clock: _Clock,
) -> None:
    for began in ("identify", "resume", None):
        chosen = [c for c in conns if c.began == began]
        if not chosen:
            continue
        name = {"identify": "began: IDENTIFY", "resume": "began: RESUME", None: "began: ?"}
        figure.add_trace(
            go.Bar(
                orientation="h",
                base=[clock(c.opened) for c in chosen],
                x=[  # on a date axis a bar's length is in milliseconds
                    1000 * max((end if c.closed is None else c.closed) - c.opened, end * 0.002)
                    for c in chosen
                ],
                y=[labels[c.conn] for c in chosen],
                marker={"color": BEGAN_COLOURS[began], "line": {"width": 0}},
                opacity=0.85,
                width=0.55,
                name=name[began],
                legendgroup="bands",
                hovertext=[_esc(_describe(c)) for c in chosen],
                hoverinfo="text",
            ),
            row=1,
            col=1,
        )


def _closes(
    figure: Any, go: Any, conns: list[Connection], labels: dict[int, str], clock: _Clock
) -> None:
    for side in (CLIENT, SERVER, DROPPED):
        chosen = [c for c in conns if c.side == side and c.closed is not None]
        if not chosen:
            continue
        figure.add_trace(
            go.Scatter(
                x=[clock(c.closed or 0.0) for c in chosen],
                y=[labels[c.conn] for c in chosen],
                mode="markers+text",
                marker={
                    "symbol": SIDE_SYMBOLS[side],
                    "size": 12,
                    "color": "#1d2330",
                    "line": {"width": 2, "color": "#1d2330"},
                },
                text=[_esc(_close_word(c)) for c in chosen] if len(conns) <= MAX_ROWS else None,
                textposition="middle right",
                textfont={"size": 11},
                name=SIDE_WORDS[side],
                legendgroup="closes",
                hovertext=[_esc(_describe(c)) for c in chosen],
                hoverinfo="text",
                cliponaxis=False,
            ),
            row=1,
            col=1,
        )


def _marks(figure: Any, go: Any, timeline: Timeline, labels: dict[int, str], clock: _Clock) -> None:
    for kind, (name, symbol, colour) in MARK_STYLES.items():
        chosen = [m for m in timeline.marks if m.kind == kind and m.conn in labels]
        if not chosen:
            continue
        figure.add_trace(
            go.Scatter(
                x=[clock(m.t) for m in chosen],
                y=[labels[m.conn] for m in chosen],
                mode="markers",
                marker={
                    "symbol": symbol,
                    "size": 11,
                    "color": colour,
                    "line": {"width": 1, "color": "white"},
                },
                name=name,
                legendgroup="marks",
                hovertext=[_esc(f"#{m.conn} at {_secs(m.t)}: {m.label}") for m in chosen],
                hoverinfo="text",
            ),
            row=1,
            col=1,
        )


def _gap_labels(timeline: Timeline, end: float) -> list[tuple[Recovery, int]]:
    """The gaps to label and the lane (row of labels) each goes in: the longest first, each
    in the lowest lane where it clears its neighbours; what finds no room stays unlabelled
    (the recoveries table lists every gap)."""
    room = max(end, 1e-9) * LABEL_WIDTH  # a label's width, as a share of the axis
    taken: list[list[float]] = [[] for _ in range(MAX_LANES)]
    placed: list[tuple[Recovery, int]] = []
    longest = sorted(
        timeline.recoveries, key=lambda r: -(end - r.down if r.up is None else r.up - r.down)
    )
    for recovery in longest[:MAX_GAP_LABELS]:
        for lane, starts in enumerate(taken):
            if all(abs(recovery.down - other) >= room for other in starts):
                starts.append(recovery.down)
                placed.append((recovery, lane))
                break
    return placed


def _gaps(
    figure: Any,
    timeline: Timeline,
    end: float,
    clock: _Clock,
    labels: list[tuple[Recovery, int]],
) -> None:
    """Shading and a dotted start line per gap, over all three rows, and the labels: set
    in one layout update (plotly's add_vrect per gap costs time that grows with the
    number of shapes already there)."""
    longest = sorted(
        timeline.recoveries, key=lambda r: -(end - r.down if r.up is None else r.up - r.down)
    )[:MAX_GAP_SHAPES]
    shapes: list[dict[str, Any]] = []
    for recovery in longest:
        up = end if recovery.up is None else recovery.up
        span = {"xref": "x", "yref": "paper", "y0": 0, "y1": 1, "layer": "below"}
        shapes.append(
            {**span, "type": "rect", "x0": clock(recovery.down), "x1": clock(up),
             "fillcolor": GAP_COLOUR, "line": {"width": 0}}
        )  # fmt: skip
        if len(longest) <= MAX_GAP_LINES:
            shapes.append(
                {**span, "type": "line", "x0": clock(recovery.down), "x1": clock(recovery.down),
                 "line": {"color": "rgba(192, 57, 43, 0.55)", "width": 1, "dash": "dot"}}
            )  # fmt: skip
    notes: list[dict[str, Any]] = []
    for recovery, lane in labels:
        seconds = recovery.seconds
        text = "not back by the end" if seconds is None else f"down {_secs(seconds)}"
        notes.append(
            {"x": clock(recovery.down), "y": 1.0, "xref": "x", "yref": "y domain",
             "yshift": 2 + 14 * lane, "text": _esc(text), "showarrow": False,
             "xanchor": "left", "yanchor": "bottom",
             "font": {"size": 10, "color": "#c0392b"}}
        )  # fmt: skip
    figure.update_layout(
        shapes=[*figure.layout.shapes, *shapes],
        annotations=[*figure.layout.annotations, *notes],
    )


def _pings(figure: Any, go: Any, timeline: Timeline, clock: _Clock) -> None:
    if not timeline.pings:
        low, high = figure.layout.yaxis2.domain  # the row's place on the page
        figure.add_annotation(
            text="no heartbeat was answered in this capture",
            x=0.5, y=(low + high) / 2, xref="paper", yref="paper", showarrow=False,
            font={"size": 12, "color": "#5a6272"},
        )  # fmt: skip
        return
    for shard in timeline.shards:
        chosen = [p for p in timeline.pings if p.shard == shard]
        if not chosen:
            continue
        name = "round trip" if len(timeline.shards) < 2 else f"round trip, shard {_shard(shard)}"
        figure.add_trace(
            go.Scatter(
                x=[clock(p.t) for p in chosen],
                y=[p.ms for p in chosen],
                mode="lines+markers",
                line={"width": 1.5, "color": "#5b4bb7" if len(timeline.shards) < 2 else None},
                marker={"size": 5},
                name=_esc(name),
                legendgroup="pings",
                hovertext=[_esc(f"#{p.conn} at {_secs(p.t)}: {p.ms:.1f} ms") for p in chosen],
                hoverinfo="text",
            ),
            row=2,
            col=1,
        )


def _rates(figure: Any, go: Any, timeline: Timeline, clock: _Clock) -> None:
    rates = timeline.rates
    if not rates.starts:
        return
    # Each bin is drawn as a step from its start; one more point closes the last step.
    starts = [*rates.starts, rates.starts[-1] + rates.width]
    x = [clock(t) for t in starts]
    for name, values in rates.by_type.items():
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[*values, values[-1]],
                mode="lines",
                line={"width": 0.5, "shape": "hv"},
                stackgroup="rates",
                name=_esc(name),
                legendgroup="rates",
                customdata=starts,
                hovertemplate=(
                    f"{_esc(name)}: %{{y:.1f}}/s at %{{customdata:.0f}} s<extra></extra>"
                ),
            ),
            row=3,
            col=1,
        )


# --- text -------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _shard(shard: Shard) -> str:
    return "?" if shard is None else f"{shard[0]}/{shard[1]}"


def _secs(seconds: float) -> str:
    """A duration a person reads at a glance: 4.1 ms, 1.04 s, 3 min 12 s."""
    if not math.isfinite(seconds):
        return str(seconds)
    if abs(seconds) < 1:
        return f"{seconds * 1000:.1f} ms"
    if abs(seconds) < 120:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 120:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _ms(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f} ms"


def _code(code: int | None) -> str:
    return close_label(code)


def _close_word(conn: Connection) -> str:
    if conn.side == DROPPED:
        return "dropped"
    code = "no close frame" if conn.code is None else str(conn.code)
    return f"{code} {'client' if conn.side == CLIENT else 'server'}"


def _describe(conn: Connection) -> str:
    began = {"identify": "IDENTIFY", "resume": "RESUME"}.get(conn.began or "", "nothing sent")
    parts = [f"connection #{conn.conn}, shard {_shard(conn.shard)}"]
    opened = f"opened at {_secs(conn.opened)}" if conn.open_line else "open when the capture began"
    parts.append(f"{opened}, began with {began}")
    if conn.ready is not None:
        parts.append(f"{conn.ready_as} at {_secs(conn.ready)}")
    if conn.closed is None:
        parts.append("still open when the capture ends")
    else:
        reason = f" ({conn.reason})" if conn.reason else ""
        parts.append(
            f"closed at {_secs(conn.closed)}: {_code(conn.code)}, {SIDE_WORDS[conn.side]}{reason}"
        )
    parts.append(f"{conn.events} events")
    return "; ".join(parts)


def _meta(timeline: Timeline, info: CaptureInfo) -> str:
    started = datetime.fromtimestamp(timeline.start, UTC) if timeline.connections else None
    bits = [f"capture <b>{_esc(info.name)}</b>"]
    if started is not None:
        bits.append(f"first record {started:%Y-%m-%d %H:%M:%S} UTC")
    if info.gateway:
        bits.append(f"gateway {_esc(info.gateway)}")
    bits.append(f"{_esc(info.encoding)}, {_esc(info.compress or 'no compression')}")
    shards = ", ".join(_shard(s) for s in timeline.shards) or "none"
    bits.append(f"shard{'s' if len(timeline.shards) > 1 else ''} {shards}")
    return " · ".join(bits)


def _times_note(timeline: Timeline) -> str:
    if not timeline.connections:
        return ""
    started = datetime.fromtimestamp(timeline.start, UTC).isoformat(" ", "milliseconds")
    return (
        "<p class='help'>Times below are seconds from the capture's first record, "
        f"{started[:23]} UTC.</p>\n"
    )


def _summary_table(timeline: Timeline) -> str:
    s = timeline.summary
    by_side: dict[str, int] = {}
    for conn in timeline.connections:
        by_side[conn.side] = by_side.get(conn.side, 0) + 1
    closes = " · ".join(
        f"{_esc(close_label(None if code == 'none' else int(code)))}: {count}"
        for code, count in s.closes.items()
    )
    sides = " · ".join(f"{SIDE_WORDS[side]}: {count}" for side, count in by_side.items())
    types = ", ".join(f"{_esc(name)} {count}" for name, count in timeline.events_by_type.items())
    longest = DASH
    if s.longest_recovery is not None:
        worst = max(
            (r for r in timeline.recoveries if r.seconds is not None),
            key=lambda r: r.seconds or 0.0,
        )
        longest = (
            f"{_secs(s.longest_recovery)} (after #{worst.conn} closed: {_esc(_code(worst.code))},"
            f" {SIDE_WORDS[worst.side]}; back with {worst.via})"
        )
    if s.unrecovered:
        longest += f"; {s.unrecovered} gap(s) not recovered by the end"
    rows = [
        ("Connections", f"{s.connections}"),
        ("Duration", _secs(s.duration)),
        ("Events (dispatches)", f"{s.events}" + (f" — {types}" if types else "")),
        ("Resumes", f"{s.resumes} RESUME sent, {s.resumed} RESUMED"),
        ("Re-identifies", f"{s.reidentifies} (IDENTIFY after a shard's first)"),
        ("Closes by code", closes or DASH),
        ("Connections by end", sides or DASH),
        (
            "Heartbeat round trip",
            f"p50 {_ms(s.ping_p50)} · p95 {_ms(s.ping_p95)} · max {_ms(s.ping_max)}"
            f" ({s.ping_samples} round trips)",
        ),
        ("Longest recovery", longest),
    ]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='summary' id='birbctl-summary'>{body}</table>\n"


def _connections_table(timeline: Timeline) -> str:
    head = (
        "<tr><th>#</th><th>shard</th><th>opened</th><th>began</th><th>ready</th>"
        "<th>closed</th><th>code</th><th>side</th><th>reason</th><th>events</th></tr>"
    )
    rows = []
    for c in timeline.connections:
        began = {"identify": "IDENTIFY", "resume": "RESUME"}.get(c.began or "", DASH)
        colour = BEGAN_COLOURS.get(c.began, BEGAN_COLOURS[None])
        ready = DASH if c.ready is None else _esc(f"{c.ready_as} at {_secs(c.ready)}")
        opened = _secs(c.opened) if c.open_line else f"{_secs(c.opened)} (before the capture)"
        closed = DASH if c.closed is None else _secs(c.closed)
        code = DASH if c.closed is None else _esc(_code(c.code))
        rows.append(
            f"<tr data-conn='{c.conn}'><td class='num'>{c.conn}</td><td>{_shard(c.shard)}</td>"
            f"<td class='num'>{opened}</td>"
            f"<td><span class='key' style='background:{colour}'></span>{began}</td>"
            f"<td>{ready}</td><td class='num'>{closed}</td><td>{code}</td>"
            f"<td>{SIDE_WORDS[c.side]}</td><td>{_esc(c.reason)}</td>"
            f"<td class='num'>{c.events}</td></tr>"
        )
    return f"<table id='birbctl-connections'>{head}{''.join(rows)}</table>\n"


def _recoveries_table(timeline: Timeline) -> str:
    if not timeline.recoveries:
        return "<p class='help'>No gaps: no shard was down and back within the capture.</p>\n"
    head = (
        "<tr><th>shard</th><th>after #</th><th>close</th><th>down at</th><th>back at</th>"
        "<th>took</th><th>back with</th></tr>"
    )
    rows = []
    for r in timeline.recoveries:
        up = "not by the end" if r.up is None else _secs(r.up)
        took = DASH if r.seconds is None else _secs(r.seconds)
        rows.append(
            f"<tr><td>{_shard(r.shard)}</td><td class='num'>{r.conn}</td>"
            f"<td>{_esc(_code(r.code))}, {SIDE_WORDS[r.side]}</td>"
            f"<td class='num'>{_secs(r.down)}</td><td class='num'>{up}</td>"
            f"<td class='num'>{took}</td><td>{r.via or DASH}</td></tr>"
        )
    return f"<table id='birbctl-recoveries'>{head}{''.join(rows)}</table>\n"


def _json_for_script(value: Any) -> str:
    """JSON that cannot end its <script> element early, whatever strings it holds."""
    text = orjson.dumps(value).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
