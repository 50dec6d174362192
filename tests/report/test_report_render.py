"""The page from hand-built timelines: a reconnect storm stays one screen high with a
bounded number of shapes, and a capture with nothing in it still makes a page."""

from __future__ import annotations

import json
import re

from report_pages import embedded_model, figure_data, outside_references

from birbctl.capture.message import Message
from birbctl.report.page import MAX_GAP_SHAPES, MAX_ROWS, render_page
from birbctl.report.source import CaptureInfo
from birbctl.report.timeline import Closed, Opened, Record, build_timeline

INFO = CaptureInfo("x.capture", None, None, "json", None)


def storm(connections: int) -> list[Record]:
    records: list[Record] = []
    t = 1.7e9
    for conn in range(1, connections + 1):
        shard = ((conn - 1) % 2, 2)
        records.append(Opened(t, conn, shard))
        ready = {"op": 0, "t": "RESUMED", "s": 1, "d": {}}
        records.append(Message(ready, 0, 0, 0, 0, t + 0.1, conn, "recv", "text", shard))
        records.append(Closed(t + 1.0, conn, "recv", None, ""))
        t += 1.2 if conn % 2 == 0 else 0.0
    return records


def layout(page: str) -> dict[str, object]:
    call = page.index("Plotly.newPlot(")
    data_start = page.index("[", page.index('"birbctl-figure"', call))
    decoder = json.JSONDecoder()
    _data, end = decoder.raw_decode(page, data_start)
    found, _ = decoder.raw_decode(page, page.index("{", end))
    assert isinstance(found, dict)
    return found


def test_a_storm_shares_one_row_per_shard_and_bounds_its_shapes() -> None:
    timeline = build_timeline(storm(2 * MAX_GAP_SHAPES + 10))
    assert len(timeline.connections) > MAX_ROWS
    page = render_page(timeline, INFO)
    bands = [t for t in figure_data(page) if t["type"] == "bar"]
    assert {label for t in bands for label in t["y"]} == {"shard 0/2", "shard 1/2"}
    assert sum(len(t["y"]) for t in bands) == len(timeline.connections)  # each one drawn
    shapes = layout(page).get("shapes", [])
    assert isinstance(shapes, list) and 0 < len(shapes) <= MAX_GAP_SHAPES  # no dotted lines
    assert len(embedded_model(page)["recoveries"]) == len(timeline.recoveries)  # all listed
    assert len(re.findall(r"<tr data-conn=", page)) == len(timeline.connections)


def test_a_few_connections_get_a_row_each() -> None:
    timeline = build_timeline(storm(6))
    page = render_page(timeline, INFO)
    bands = [t for t in figure_data(page) if t["type"] == "bar"]
    labels = {label for t in bands for label in t["y"]}
    assert labels == {f"#{n} · shard {(n - 1) % 2}/2" for n in range(1, 7)}
    shapes = layout(page)["shapes"]
    assert isinstance(shapes, list) and len(shapes) == 2 * len(timeline.recoveries)


def test_an_empty_capture_still_makes_a_page() -> None:
    page = render_page(build_timeline([]), INFO)
    assert embedded_model(page)["connections"] == []
    assert "no heartbeat was answered" in page
    assert outside_references(page) == []
