"""`birbctl report` on a real `birbctl demo --record` capture: the page holds every
connection and close of the capture, draws them with plotly, references nothing outside
itself, and a headless Chromium renders it without a script error."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import birbctl
from report_pages import (
    capture_lines,
    embedded_model,
    expected_side,
    figure_data,
    outside_references,
)

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo capture (8 s: READY, then op 7 at 6 s and a RESUME) and its page."""
    folder = tmp_path_factory.mktemp("demo")
    capture, page = folder / "demo.capture", folder / "demo.html"
    result = subprocess.run(
        [sys.executable, "-m", "birbctl", "demo", "--duration", "8", "--json",
         "--record", str(capture)],
        capture_output=True, timeout=60, check=False,
        env={**os.environ, "XDG_RUNTIME_DIR": str(folder)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    made = birbctl("report", str(capture), "-o", str(page))
    assert made.returncode == 0, made.stderr
    assert made.stdout == b"" and made.stderr == b""
    return capture, page.read_text(encoding="utf-8")


def test_the_page_holds_every_connection_and_close_of_the_capture(
    demo: tuple[Path, str],
) -> None:
    capture, page = demo
    opens, closes, first = capture_lines(capture)
    assert len(opens) >= 2, "the demo's op 7 makes a second connection"
    model = embedded_model(page)
    conns = {c["conn"]: c for c in model["connections"]}
    assert set(conns) == set(opens)
    assert model["start"] == first
    for number, t in opens.items():
        assert conns[number]["opened"] == pytest.approx(t - first, abs=1e-6)
        assert conns[number]["open_line"] is True
    for number, close in closes.items():
        got = conns[number]
        assert (got["code"], got["side"]) == (close["code"], expected_side(close))
        assert got["closed"] == pytest.approx(close["t"] - first, abs=1e-6)
        assert got["reason"] == close["data"]
    assert set(closes) == set(opens)  # the demo closes each connection it opened
    # op 7 closed the first connection (birbctl, 4000) and the second RESUMEd.
    assert (conns[1]["code"], conns[1]["side"], conns[2]["began"]) == (4000, "client", "resume")
    assert any(m["kind"] == "reconnect" and m["conn"] == 1 for m in model["marks"])
    [gap] = [r for r in model["recoveries"] if r["conn"] == 1]
    assert gap["via"] == "RESUMED" and 0 <= gap["seconds"] < 1
    assert model["summary"]["connections"] == len(opens)
    assert model["summary"]["ping_samples"] >= 3
    # The tables say the same: a row per connection.
    assert sorted(int(n) for n in re.findall(r"data-conn='(\d+)'", page)) == sorted(opens)


def unix(moment: str) -> float:
    return datetime.strptime(moment, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def test_the_figure_draws_each_connection_and_close(demo: tuple[Path, str]) -> None:
    capture, page = demo
    opens, closes, _first = capture_lines(capture)
    assert '<div id="birbctl-figure"' in page and "Plotly.newPlot(" in page
    traces = figure_data(page)
    bands = [t for t in traces if t["type"] == "bar" and t.get("orientation") == "h"]
    assert sorted(label for t in bands for label in t["y"]) == sorted(f"#{n}" for n in opens)
    close_marks = [t for t in traces if t.get("legendgroup") == "closes"]
    drawn = sorted(unix(x) for t in close_marks for x in t["x"])  # on a UTC date axis
    assert drawn == pytest.approx(sorted(c["t"] for c in closes.values()), abs=1e-5)
    assert any(t.get("legendgroup") == "pings" for t in traces)
    assert any(t.get("stackgroup") == "rates" for t in traces)


def test_the_page_fetches_nothing(demo: tuple[Path, str]) -> None:
    _capture, page = demo
    assert outside_references(page) == []
    assert "plotly.js v" in page and len(page) > 1_000_000  # the library is inline, whole


def test_the_check_for_outside_references_finds_them() -> None:
    page = (
        "<html><head><link rel=stylesheet href='https://fonts.example/x.css'>"
        "<style>@import url(https://x.example/a.css);</style>"
        "<script src='https://cdn.example/plotly.js'></script></head>"
        "<body><img src=//x.example/a.png><a href='#top'>ok</a>"
        "<script>var u = 'https://in.script.text/';</script></body></html>"
    )
    found = outside_references(page)
    assert len(found) == 6, found  # link (href + tag), img, @import, script src x2
    assert not any("in.script.text" in item for item in found)


# --- a real browser ---------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (Debian package chromium; .ci/run installs it)")
    return found


def dump_dom(browser: str, page: Path, folder: Path) -> str:
    """The page's DOM after its scripts ran (5 s of virtual time), from headless Chromium."""
    result = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={folder / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, timeout=90, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(folder)},
        # Chromium's own temporary directories need their x bit: a umask another test left
        # behind (0o177) makes it die with SIGTRAP, so the browser gets the usual one.
        umask=0o022,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode()


def body_state(dom: str) -> tuple[dict[str, str], str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None
    attrs = dict(re.findall(r'(data-birbctl-[a-z]+)="([^"]*)"', body.group(1)))
    errors = re.search(r'<pre id="birbctl-errors"[^>]*>(.*?)</pre>', dom, re.DOTALL)
    assert errors is not None
    return attrs, errors.group(1)


def test_headless_chromium_renders_the_page_without_errors(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    browser = chromium()
    page = tmp_path / "report.html"
    page.write_text(demo[1], encoding="utf-8")
    attrs, errors = body_state(dump_dom(browser, page, tmp_path))
    assert errors == ""
    assert attrs.get("data-birbctl-rendered") == "yes", attrs  # plotly drew the figure
    assert attrs.get("data-birbctl-fetched") == "0"  # and nothing was fetched


def test_headless_chromium_check_sees_a_broken_page(demo: tuple[Path, str], tmp_path: Path) -> None:
    """The error hook is what the test above relies on: a failing script shows in it."""
    browser = chromium()
    page = tmp_path / "broken.html"
    at = demo[1].rindex("</body>")
    broken = demo[1][:at] + "<script>noSuchFunction();</script>" + demo[1][at:]
    page.write_text(broken, encoding="utf-8")
    _attrs, errors = body_state(dump_dom(browser, page, tmp_path))
    assert "noSuchFunction" in errors
