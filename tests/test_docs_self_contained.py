"""The repository explains itself: README, docs/ and the code never send a reader to a
file outside it, and every relative link in the docs leads to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What a pointer to the old outside design file looks like: its directory, its name, or
#: "DESIGN" as a word (as in "DESIGN 4", "DESIGN section 3", "as DESIGN says").
OUTSIDE = re.compile(r"shared/|DESIGN\.md|\bDESIGN\b")

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_files() -> list[Path]:
    return sorted(
        p
        for p in (ROOT / "birbctl").rglob("*")
        if p.suffix in (".py", ".c", ".md") and "__pycache__" not in p.parts
    )


def outside_references(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def links(path: Path) -> list[str]:
    """Link targets in a Markdown file, outside code blocks and code spans."""
    text = _CODE_SPAN.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))
    return _LINK.findall(text)


def anchors(path: Path) -> set[str]:
    """The heading anchors GitHub gives a Markdown file."""
    seen: dict[str, int] = {}
    out = set()
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links in `path` that leave `root`, miss their file or their heading."""
    broken = []
    for target in links(path):
        if _SCHEME.match(target):
            continue  # a web address, not a file of the repository
        file_part, _, anchor = target.partition("#")
        file_part = file_part.split("?", 1)[0]
        resolved = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: ({target})"
        if not resolved.is_relative_to(root):
            broken.append(f"{where} leaves the repository")
            continue
        if not resolved.exists():
            broken.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{where}: no heading #{anchor}")
    return broken


def test_docs_do_not_point_outside_the_repository() -> None:
    assert outside_references(doc_files()) == []


def test_code_does_not_point_outside_the_repository() -> None:
    assert outside_references(code_files()) == []


def test_relative_links_lead_to_files_in_the_repository() -> None:
    assert [broken for path in doc_files() for broken in broken_links(path)] == []


def test_the_checks_catch_what_they_claim(tmp_path: Path) -> None:
    """The patterns and the link resolver, on files written to pass and to fail them."""
    assert OUTSIDE.search("see ../shared/DESIGN.md")
    assert OUTSIDE.search("the capture format (DESIGN 4)")
    assert not OUTSIDE.search("a design choice, by design")
    root = tmp_path.resolve()
    (root / "docs").mkdir()
    (root / "docs" / "good.md").write_text("# Two words\n\n## Two words\n")
    page = root / "docs" / "page.md"
    page.write_text(
        "[a](../../DESIGN.md) [b](nowhere.md) `[c](skipped.md)` [d](good.md#two-words)\n"
        "[e](good.md#two-words-1) [f](good.md#three) [g](https://example.com/x.md)\n"
        "[i](#page)\n\n# Page\n"
    )
    assert broken_links(page, root) == [
        "docs/page.md: (../../DESIGN.md) leaves the repository",
        "docs/page.md: (nowhere.md): no such file",
        "docs/page.md: (good.md#three): no heading #three",
    ]
