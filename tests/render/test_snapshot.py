"""Every field of the typed snapshots reaches the screen, and their one JSON form.

The views read attributes, so a read of a field the snapshot does not have is a mypy
error (tests/test_style.py) and an AttributeError here; and these tests set every
field to a value of its own and find each on screen, so a view that shows "-" for a
field that is set (the symptom of a dict read with `.get("old_name")`) fails too.
"""

from __future__ import annotations

import dataclasses
import io

import orjson
import pytest
from rich.console import Console
from rich.table import Table

from birbctl.client.snapshot import (
    PingSnapshot,
    ProcessPings,
    ProcessSnapshot,
    ProcessUnanswered,
    ShardSnapshot,
    SnapshotError,
)
from birbctl.render.dashboard import render_dashboard, status_table, summary_lines
from birbctl.render.tables import ping_table
from birbctl.render.tables import status_table as process_table

SHARD = ShardSnapshot(
    shard=(3, 7),
    status="waiting_for_guilds",
    session_id="a1b2c3d4e5f60718",
    seq=4321,
    ping=41.25,
    ping_avg=39.75,
    last_ack_age=2.5,
    uptime=3725.0,
    connections=5,
    resumes=6,
    reidentifies=8,
    events=123456,
    events_per_s=19.8,
    guilds_ready=2,
    guilds_expected=9,
    url="ws://gateway.example:8765/?v=10&encoding=etf&compress=zstd-stream",
    encoding="etf",
    compress="zstd-stream",
    last_close="4009 by server",
)
PINGS = PingSnapshot(
    shard=(3, 7),
    last=40.5,
    avg=41.75,
    min=36.5,
    p50=40.25,
    p95=47.5,
    max=48.5,
    samples=13,
    history=(36.5, 48.5, 40.5),
)

#: Where each ShardSnapshot field shows on the dashboard, as text. A new field must be
#: added here or to NOT_ON_DASHBOARD: the test below fails until it is.
ON_DASHBOARD = {
    "shard": "3/7",
    "status": "waiting_for_guilds",
    "session_id": "a1b2c3d4",
    "seq": "4321",
    "ping": "41.2",
    "ping_avg": "39.8",
    "last_ack_age": "2.5s",
    "uptime": "1h02m",
    "resumes": "6",
    "reidentifies": "8",
    "events": "123,456",
    "events_per_s": "19.8",
    "guilds_ready": "2/9",
    "guilds_expected": "2/9",
    "url": "gateway.example:8765",
    "encoding": "etf zstd-stream",
    "compress": "etf zstd-stream",
    "last_close": "4009 by server",
}
#: Fields the dashboard leaves to `status --json` (why, each).
NOT_ON_DASHBOARD = {"connections": "the capture's conn number; a count nobody watches live"}


def _text(renderable: object, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _cells(table: Table) -> list[list[str]]:
    """The table's rows, cell by cell, as plain text."""
    columns = [[_text(cell, 200).strip() for cell in col.cells] for col in table.columns]
    return [list(row) for row in zip(*columns, strict=True)]


def test_every_shard_field_is_accounted_for() -> None:
    names = {f.name for f in dataclasses.fields(ShardSnapshot)}
    assert set(ON_DASHBOARD) | set(NOT_ON_DASHBOARD) == names
    assert not set(ON_DASHBOARD) & set(NOT_ON_DASHBOARD)


@pytest.mark.parametrize("field", sorted(ON_DASHBOARD))
def test_every_shard_field_shows_on_the_dashboard(field: str) -> None:
    text = _text(render_dashboard([SHARD], [PINGS], [], [], width=200), 200)
    assert ON_DASHBOARD[field] in text, field
    # Changing the field changes the frame: the text above is this field's.
    others: dict[str, object] = {
        "shard": (4, 7),
        "status": "resuming",
        "session_id": "ffeeddccbbaa9988",
        "url": "ws://elsewhere:1/",
        "encoding": "json",
        "compress": None,
        "last_close": "dropped by client",
    }
    other = others[field] if field in others else getattr(SHARD, field) * 2 + 1
    changed = dataclasses.replace(SHARD, **{field: other})
    assert _text(render_dashboard([changed], [PINGS], [], [], width=200), 200) != text


def test_no_dashboard_cell_is_a_dash_when_its_field_is_set() -> None:
    [row] = _cells(status_table([SHARD], width=200))
    assert "-" not in row and "" not in row, row
    assert len(row) == 14  # every column fits at 200


def test_the_ping_fields_show_in_the_ping_history() -> None:
    text = _text(render_dashboard([SHARD], [PINGS], [], [], width=120), 120)
    assert "p50 40.2  p95 47.5  max 48.5  n 13" in text
    assert "36.5-48.5" in text  # min-max of the history drawn


def test_the_summary_line_reads_the_snapshot() -> None:
    [line] = summary_lines([SHARD], "12:00:00")
    assert line == "12:00:00 shard 3: 123,456 events, 6 resumes, 8 re-identifies, avg ping 39.8 ms"


def test_the_status_and_ping_tables_show_every_column() -> None:
    process = ProcessSnapshot(pid=4242, command="connect", started=1.0, shards=(SHARD,))
    down = ProcessUnanswered(pid=77, error="process 77 did not answer: [/oops] refused")
    rows = _cells(process_table([process, down]))
    assert rows[0] == [
        "4242",
        "connect",
        "3/7",
        "waiting_for_guilds",
        "4321",
        "41.2",
        "123456",
        "6",
        "1h02m",
    ]
    assert rows[1][0] == "77" and "[/oops] refused" in rows[1][3]  # markup is escaped

    pings = ProcessPings(pid=4242, command="connect", started=1.0, shards=(PINGS,))
    [row] = _cells(ping_table([pings]))
    assert row == ["4242", "3/7", "40.5", "41.8", "36.5", "40.2", "47.5", "48.5", "13"]


# --- the JSON form ------------------------------------------------------------------

#: The keys `status --json` has always had: scripts read them.
SHARD_KEYS = [
    "shard", "status", "session_id", "seq", "ping", "ping_avg", "last_ack_age", "uptime",
    "connections", "resumes", "reidentifies", "events", "events_per_s", "guilds_ready",
    "guilds_expected", "url", "encoding", "compress", "last_close",
]  # fmt: skip
PING_KEYS = ["shard", "last", "avg", "min", "p50", "p95", "max", "samples", "history"]


def test_the_json_form_keeps_the_keys_scripts_read() -> None:
    assert list(SHARD.to_json()) == SHARD_KEYS
    assert list(PINGS.to_json()) == PING_KEYS
    assert SHARD.to_json()["shard"] == [3, 7]
    assert PINGS.to_json()["history"] == [36.5, 48.5, 40.5]
    process = ProcessSnapshot(pid=1, command="tail", started=2.5, shards=(SHARD,))
    assert process.to_json() == {
        "ok": True,
        "pid": 1,
        "command": "tail",
        "started": 2.5,
        "shards": [SHARD.to_json()],
    }
    assert ProcessUnanswered(3, "gone").to_json() == {"ok": False, "pid": 3, "error": "gone"}


def test_the_json_form_reads_back_to_the_same_snapshot() -> None:
    process = ProcessSnapshot(pid=1, command="connect", started=2.5, shards=(SHARD, SHARD))
    wire = orjson.loads(orjson.dumps(process.to_json()))
    assert ProcessSnapshot.from_json(wire) == process
    pings = ProcessPings(pid=1, command="connect", started=2.5, shards=(PINGS,))
    assert ProcessPings.from_json(orjson.loads(orjson.dumps(pings.to_json()))) == pings
    # A whole number where a float goes is a float; a key a newer birbctl adds is ignored.
    wire = {**SHARD.to_json(), "uptime": 3, "added_later": [1]}
    read = ShardSnapshot.from_json(wire)
    assert read.uptime == 3.0 and isinstance(read.uptime, float)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"seq": "12"}, "seq: expected a whole number or null, got a string"),
        ({"seq": True}, "seq: expected a whole number or null, got true or false"),
        ({"events": 1.5}, "events: expected a whole number, got a number"),
        ({"status": None}, "status: expected a string, got null"),
        ({"shard": [1]}, "shard: expected 2 items, got 1"),
        ({"shard": "0/1"}, "shard: expected an array, got a string"),
        ({"shard": [0, "1"]}, "shard[1]: expected a whole number, got a string"),
        ({"uptime": None}, "uptime: expected a number, got null"),
    ],
)
def test_a_mistyped_field_is_refused_by_name(change: dict[str, object], error: str) -> None:
    with pytest.raises(SnapshotError) as caught:
        ShardSnapshot.from_json({**SHARD.to_json(), **change})
    assert str(caught.value) == error


def test_a_missing_field_is_refused_by_name_and_place() -> None:
    wire = SHARD.to_json()
    del wire["guilds_ready"]
    with pytest.raises(SnapshotError, match=r"^guilds_ready is missing$"):
        ShardSnapshot.from_json(wire)
    answer = {"ok": True, "pid": 1, "command": "connect", "started": 0, "shards": [wire]}
    with pytest.raises(SnapshotError, match=r"^shards\[0\]\.guilds_ready is missing$"):
        ProcessSnapshot.from_json(answer)
    with pytest.raises(SnapshotError, match=r"^shards\[0\]: expected an object, got a number$"):
        ProcessSnapshot.from_json({**answer, "shards": [1]})
    with pytest.raises(SnapshotError, match=r"^ShardSnapshot: expected an object, got an array$"):
        ShardSnapshot.from_json([])


def test_snapshots_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SHARD.seq = 1  # type: ignore[misc]
    assert not hasattr(SHARD, "__dict__")  # slots: no stray attributes either
