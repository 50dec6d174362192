"""Reading a report page back: its embedded model, its figure, its outside references; and
what a capture's own open and close lines say, to check the page against."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

MODEL = re.compile(
    r"<script type='application/json' id='birbctl-timeline'>(.*?)</script>", re.DOTALL
)
#: Attributes a browser fetches (or navigates to) by themselves.
FETCHING = {"src", "href", "srcset", "poster", "data", "action", "formaction", "background"}
REMOTE = ("http:", "https:", "//", "ws:", "wss:", "ftp:")


def embedded_model(page: str) -> dict[str, Any]:
    found = MODEL.search(page)
    assert found is not None, "no embedded timeline"
    model: dict[str, Any] = json.loads(found.group(1))
    return model


def figure_data(page: str) -> list[dict[str, Any]]:
    """The traces handed to Plotly.newPlot for the page's figure."""
    call = page.index("Plotly.newPlot(")
    start = page.index("[", page.index('"birbctl-figure"', call))
    data, _end = json.JSONDecoder().raw_decode(page, start)
    assert isinstance(data, list)
    return data


def capture_lines(path: Path) -> tuple[dict[int, float], dict[int, dict[str, Any]], float]:
    """(conn -> open time, conn -> close line, the first event's time) from the file."""
    events = [json.loads(line) for line in path.read_bytes().splitlines()[1:] if line.strip()]
    opens = {e["conn"]: e["t"] for e in events if e["kind"] == "open"}
    closes = {e["conn"]: e for e in events if e["kind"] == "close"}
    return opens, closes, min(e["t"] for e in events)


def expected_side(close: dict[str, Any]) -> str:
    if close["dir"] == "send":
        return "client"
    return "server" if close["code"] is not None else "dropped"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.remote: list[str] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            bare = (value or "").strip().lower()
            if name.split(":")[-1] in FETCHING and bare.startswith(REMOTE):
                self.remote.append(f"<{tag} {name}={value!r}>")
            if name == "style" and "url(" in bare:
                self.styles.append(bare)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def outside_references(page: str) -> list[str]:
    """Everything in the document that would make a browser fetch from elsewhere: remote
    src/href-like attributes, stylesheets, scripts loaded by URL, url() and @import in CSS.
    Script text is not markup: URLs inside plotly's own code are not references."""
    parser = _References()
    parser.feed(page)
    found = list(parser.remote)
    found += [f"<{tag}>" for tag in parser.tags if tag in ("link", "iframe", "object", "embed")]
    found += [css for css in parser.styles if "url(" in css or "@import" in css]
    found += re.findall(r"<script[^>]*\ssrc=[^>]*>", page)
    return found
