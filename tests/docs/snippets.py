"""The code blocks of the documentation (docs/*.rst and README.rst), parsed for the tests."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*(ROOT / "docs").glob("*.rst"), ROOT / "README.rst"])
DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*(?P<language>\S+)\s*$")


@dataclass(frozen=True)
class Snippet:
    """One ``.. code-block::`` of a page."""

    page: str  # "docs/sharding.rst"
    line: int  # of the directive, 1-based
    language: str
    code: str

    @property
    def key(self) -> str:
        """How tests/docs/modes.py names it: the page and the first line of code."""
        first = next(line for line in self.code.splitlines() if line.strip())
        return f"{self.page}: {first.strip()}"

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.language})"


def parse(path: Path) -> list[Snippet]:
    """The code blocks of one page, their bodies dedented."""
    lines = path.read_text().splitlines()
    page = str(path.relative_to(ROOT))
    found = []
    index = 0
    while index < len(lines):
        match = DIRECTIVE.match(lines[index])
        index += 1
        if not match:
            continue
        start = index
        indent = len(match["indent"])
        # Options (":caption: ...") then a blank line, then the indented body.
        while index < len(lines) and lines[index].strip().startswith(":"):
            index += 1
        body = []
        while index < len(lines):
            text = lines[index]
            if text.strip() and len(text) - len(text.lstrip()) <= indent:
                break
            body.append(text)
            index += 1
        code = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        found.append(Snippet(page, start, match["language"], code))
    return found


def all_snippets() -> list[Snippet]:
    """Every code block of every page."""
    return [snippet for page in PAGES for snippet in parse(page)]


def keyed(snippets: list[Snippet]) -> dict[str, Snippet]:
    """The snippets by key; a key seen before on the page gets `` #2``, `` #3``..."""
    result: dict[str, Snippet] = {}
    for snippet in snippets:
        key, number = snippet.key, 1
        while key in result:
            number += 1
            key = f"{snippet.key} #{number}"
        result[key] = snippet
    return result
