"""The dashboard as text at fixed widths, against golden files in snapshots/.

BIRBCTL_UPDATE_SNAPSHOTS=1 rewrites the golden files (read the diff before committing).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from birbctl.client.monitor import LogLine
from birbctl.client.snapshot import PingSnapshot, ShardSnapshot
from birbctl.protocol.events import (
    Notice,
    ProtocolViolation,
    Reconnecting,
    ReconnectReason,
    SessionInvalidated,
    StatusChanged,
)
from birbctl.protocol.status import GatewayStatus
from birbctl.render.dashboard import (
    KEYS,
    busiest_across,
    fmt_duration,
    footer_line,
    render_dashboard,
    status_table,
)
from birbctl.render.sparkline import BLOCKS, sparkline

SNAPSHOTS = Path(__file__).parent / "snapshots"
T0 = 1_700_000_000.0  # 22:13:20 UTC


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Log times are local; the golden files are in UTC."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


URL = "ws://127.0.0.1:8765/?v=10&encoding=json&compress=zlib-stream"


def snapshots() -> list[ShardSnapshot]:
    common = {"url": URL, "encoding": "json", "compress": "zlib-stream", "uptime": 754.2}
    return [
        ShardSnapshot(
            **common,
            shard=(0, 2),
            status="ready",
            session_id="a1b2c3d4e5f60718",
            seq=1234,
            ping=41.25,
            ping_avg=40.8,
            last_ack_age=1.4,
            connections=2,
            resumes=1,
            reidentifies=0,
            events=12345,
            events_per_s=19.8,
            guilds_ready=3,
            guilds_expected=3,
        ),
        ShardSnapshot(
            **common,
            shard=(1, 2),
            status="resuming",
            session_id="ffeeddccbbaa9988",
            seq=980,
            ping=None,
            ping_avg=38.2,
            last_ack_age=12.5,
            connections=3,
            resumes=2,
            reidentifies=1,
            events=9876,
            events_per_s=17.2,
            guilds_ready=1,
            guilds_expected=2,
        ),
    ]


PINGS = (40.0, 41.0, 39.5, 42.0, 45.0, 43.5, 40.2, 39.0, 38.0, 41.3, 44.1, 40.9)


def ping_tables() -> list[PingSnapshot]:
    return [
        PingSnapshot(
            shard=(0, 2),
            last=40.9,
            avg=41.2,
            min=38.0,
            p50=40.9,
            p95=44.6,
            max=45.0,
            samples=len(PINGS),
            history=PINGS,
        ),
        PingSnapshot(
            shard=(1, 2),
            last=None,
            avg=None,
            min=None,
            p50=None,
            p95=None,
            max=None,
            samples=0,
            history=(),
        ),
    ]


BUSIEST = [
    ("MESSAGE_CREATE", 9000),
    ("TYPING_START", 4000),
    ("PRESENCE_UPDATE", 3000),
    ("GUILD_CREATE", 5),
    ("READY", 3),
    ("RESUMED", 3),
    ("GUILD_SCHEDULED_EVENT_USER_ADD", 2),
    ("MESSAGE_REACTION_ADD", 1),
]

S = GatewayStatus
LONG_WHY = (
    "reconnect requested by the user from the dashboard, which is a long line that has to be cut"
)
#: (time, shard, notification): what the monitor logs for each, as it logs it.
NOTICES: list[tuple[float, int, Notice]] = [
    (T0 + 0, 0, StatusChanged(S.IDLE, S.CONNECTING, "connect requested")),
    (T0 + 1, 1, StatusChanged(S.IDLE, S.CONNECTING, "connect requested")),
    (T0 + 2, 0, StatusChanged(S.IDENTIFYING, S.WAITING_FOR_GUILDS, "READY")),
    (T0 + 3, 0, StatusChanged(S.WAITING_FOR_GUILDS, S.READY, "all guilds arrived")),
    (T0 + 4, 1, SessionInvalidated(True)),
    (T0 + 5, 1, Reconnecting(0.0, True, LONG_WHY, ReconnectReason.OP7)),
    (T0 + 6, 1, StatusChanged(S.READY, S.RESUMING, "resuming the session")),
    (T0 + 7, 0, ProtocolViolation("heartbeat ACK never came", closing=True)),
    (T0 + 8, 1, StatusChanged(S.RESUMING, S.READY, "RESUMED")),
]
LOGS = [LogLine(at, shard, notice.line() or "", notice.level) for at, shard, notice in NOTICES]


def render_text(width: int, **kwargs: Any) -> str:
    console = Console(
        width=width, file=io.StringIO(), record=True, color_system=None, force_terminal=False
    )
    console.print(
        render_dashboard(snapshots(), ping_tables(), BUSIEST, LOGS, width=width, **kwargs)
    )
    # Trailing blanks are padding, not content: golden files keep none.
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def check_golden(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("BIRBCTL_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}; run with BIRBCTL_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("width", [80, 120])
def test_dashboard_matches_golden_text(width: int) -> None:
    check_golden(f"dashboard_{width}.txt", render_text(width))


def test_dashboard_with_a_selected_shard_and_an_open_prompt() -> None:
    text = render_text(80, selected=1, prompt="40", message="selected shard 1")
    check_golden("dashboard_80_prompt.txt", text)
    assert "keys act on shard 1" in text
    assert "▸1/2" in text
    assert "close shard 1 with code: 40" in text


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
def test_no_line_is_wider_than_the_terminal(width: int) -> None:
    text = render_text(width, selected=0)
    assert max(len(line) for line in text.splitlines()) <= width


def test_80_columns_keep_what_matters_and_drop_the_rest() -> None:
    text = render_text(80)
    header = next(line for line in text.splitlines() if line.startswith("shard"))
    for column in ("status", "session", "seq", "ping", "avg", "ack", "ev/s", "guilds"):
        assert column in header
    assert "uptime" not in header  # it moved to the header line
    assert "up 12m34s" in text
    assert "resuming" in text and "ready" in text
    assert "a1b2c3d4" in text and "a1b2c3d4e" not in text  # short session ids
    # every log line is one line, the newest last, cut rather than wrapped
    lines = text.splitlines()
    assert lines[-3].startswith("22:13:28 #1 ready (was resuming)")
    assert any(line.endswith("…") and "#1 reconnecting" in line for line in lines)


def test_120_columns_show_every_column_but_the_last_close() -> None:
    header = next(line for line in render_text(120).splitlines() if line.startswith("shard"))
    for column in ("uptime", "resumes", "re-ids", "events", "last ack", "ping ms"):
        assert column in header
    assert "last close" not in header  # the first to go when space runs out
    wide = next(line for line in render_text(150).splitlines() if line.startswith("shard"))
    assert wide.endswith("last close")


def test_the_log_is_trimmed_to_fit_a_short_terminal() -> None:
    tall = render_text(80)
    short = render_text(80, height=20)
    assert len(short.splitlines()) <= 20 < len(tall.splitlines()) + 1
    assert "22:13:28 #1 ready (was resuming)" in short  # the newest line stays


def test_the_status_column_is_coloured_by_state() -> None:
    table = status_table(snapshots(), width=120)
    cells = list(table.columns[1].cells)
    assert [c.style for c in cells] == ["bold green", "yellow"]  # type: ignore[union-attr]


@pytest.mark.parametrize("width", [80, 120])
def test_the_footer_lists_every_key(width: int) -> None:
    footer = footer_line(width=width, shard_ids=[0, 1], prompt=None).plain
    for key, long, short in KEYS:
        assert f"{key} {long if width >= 110 else short}" in footer
    assert "0-1" in footer
    assert len(footer) <= width


def test_the_footer_without_a_terminal_on_stdin_offers_no_keys() -> None:
    footer = footer_line(width=80, shard_ids=[0], prompt=None, keys=False).plain
    assert "no keys" in footer and "Ctrl-C" in footer


def test_the_prompt_shows_the_default_code_until_digits_are_typed() -> None:
    assert "code: 4000" in footer_line(width=80, shard_ids=[0], prompt="").plain
    assert "code: 4001" in footer_line(width=80, shard_ids=[0], prompt="4001").plain


def test_a_dashboard_before_any_traffic() -> None:
    snap = replace(
        snapshots()[0],
        status="connecting",
        session_id=None,
        seq=None,
        ping=None,
        ping_avg=None,
        last_ack_age=None,
        events=0,
        events_per_s=0.0,
        guilds_ready=0,
        guilds_expected=0,
        shard=(0, 1),
    )
    table = replace(ping_tables()[1], shard=(0, 1))
    console = Console(width=80, file=io.StringIO(), record=True, color_system=None)
    console.print(render_dashboard([snap], [table], [], [], width=80))
    text = console.export_text()
    assert "connecting" in text
    assert "waiting for the first heartbeat ACK" in text
    assert "no dispatches yet" in text and "no state changes yet" in text
    assert "shard" not in text.splitlines()[-1]  # one shard: no digits to select


def test_sparkline_maps_min_to_the_lowest_block_and_max_to_the_highest() -> None:
    assert sparkline([1.0, 8.0]) == "▁█"
    assert sparkline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == BLOCKS
    assert sparkline([10.0, 15.0, 20.0]) == "▁▅█"  # 0.5 of 7 levels rounds to 4
    assert sparkline([3.0, 3.0, 3.0]) == "▁▁▁"  # flat: no scale to show
    assert sparkline([]) == ""


def test_sparkline_shows_the_newest_values_that_fit() -> None:
    assert sparkline([9.0, 1.0, 2.0, 3.0], width=3) == "▁▅█"
    assert sparkline([1.0, 2.0], width=0) == ""


def test_the_ping_history_labels_the_window_it_draws() -> None:
    text = render_text(80)
    line = next(line for line in text.splitlines() if line.startswith("0 " + sparkline(PINGS)))
    assert "38.0-45.0  MESSAGE_CREATE" in line  # min-max of the pings drawn, then busiest


def test_busiest_sums_the_shards() -> None:
    assert busiest_across([{"A": 2, "B": 5}, {"A": 4, "C": 1}], n=2) == [("A", 6), ("B", 5)]


def test_durations() -> None:
    assert [fmt_duration(s) for s in (None, 5.9, 64, 3725, 400_000)] == [
        "-",
        "5s",
        "1m04s",
        "1h02m",
        "4d",
    ]
