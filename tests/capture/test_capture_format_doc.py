"""docs/capture-format.md's example is a real capture: the reader decodes it to the
payloads the page says, so the page and the code cannot drift apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

from birbctl.capture.sources import iter_messages

DOC = Path(__file__).resolve().parents[2] / "docs" / "capture-format.md"


def _block(text: str, lang: str, index: int = 0) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)
    return str(blocks[index])


def test_the_documented_example_decodes_to_the_documented_payloads(tmp_path: Path) -> None:
    text = DOC.read_text()
    capture = tmp_path / "example.jsonl"
    capture.write_text(_block(text, "jsonl"))
    messages = list(iter_messages(str(capture)))
    expected = [json.loads(line) for line in _block(text, "json", 1).splitlines()]
    received = [m.payload for m in messages if m.direction == "recv"]
    assert received == expected
    assert [(m.op, m.direction, m.shard) for m in messages] == [
        (10, "recv", (0, 1)),
        (2, "send", (0, 1)),
        (0, "recv", (0, 1)),
    ]
    assert messages[1].payload["d"]["token"] == "[REDACTED]"
