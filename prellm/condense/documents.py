"""Documents and code: sections ranked by how much of the query's vocabulary they use."""

from __future__ import annotations

import math
import re
from collections import Counter

from .model import SEVERITY, Finding, trim

SECTION_CHARS = 600  # of a section's text kept as its example
_MD_HEADING = re.compile(r"^#{1,6} ")
_CODE_TOP = re.compile(
    r"^(?:async def |def |class |func |fn |pub fn |pub struct |struct |impl |interface "
    r"|function |export |public |private |protected |package |module )"
)
_WORD = re.compile(r"[^\W\d_]{3,40}|\d{2,20}")
_STOP_WORDS = (
    "the and for with this that what why how does are was were not but you your from have has "
    "can could should would into when where which who its it's our out all any there their then "
    "than them they been being also just only about over under more most some such very"
)
STOP = frozenset(_STOP_WORDS.split())


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOP]


MAX_SECTION_CHARS = 3000  # longer sections are cut into parts, each ranked on its own


def _parts(lines: list[str], a: int, b: int) -> list[tuple[int, str]]:
    """Lines a..b as (first line, text) pieces of at most ``MAX_SECTION_CHARS``."""
    out: list[tuple[int, str]] = []
    start, size = a, 0
    for i in range(a, b):
        if size and size + len(lines[i]) > MAX_SECTION_CHARS:
            out.append((start, "\n".join(lines[start:i])))
            start, size = i, 0
        size += len(lines[i]) + 1
    out.append((start, "\n".join(lines[start:b])))
    return [
        (i, text[j : j + MAX_SECTION_CHARS])
        for i, text in out
        for j in range(0, max(1, len(text)), MAX_SECTION_CHARS)
    ]


def _sections(lines: list[str], starts: list[int]) -> list[tuple[str, str, int]]:
    """(heading, body, first line) for each run of lines beginning at a start."""
    bounds = [*starts, len(lines)]
    out = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        heading = lines[a].strip().lstrip("#").strip()[:200]
        for k, (first, part) in enumerate(_parts(lines, a, b)):
            body = part.strip()
            if body:
                title = (heading or body[:80]) + (f" (part {k + 1})" if k else "")
                out.append((title, body, first + 1))
    return out


def split_sections(text: str, kind: str) -> list[tuple[str, str, int]]:
    """Headings for markdown, top-level definitions for code, else paragraphs."""
    lines = text.split("\n")
    pattern = _CODE_TOP if kind == "code" else _MD_HEADING
    starts = [i for i, line in enumerate(lines) if pattern.match(line[:200])]
    if starts and starts[0] != 0:
        starts.insert(0, 0)
    if len(starts) > 1:
        return _sections(lines, starts)
    starts, size = [0], 0
    for i, line in enumerate(lines):  # paragraphs, merged until each has some substance
        if not line.strip() and size >= 200:
            starts.append(i + 1)
            size = 0
        size += len(line)
    return _sections(lines, sorted(set(s for s in starts if s < len(lines))))


def condense_document(text: str, kind: str, query: str = "", material: str = "") -> list[Finding]:
    """One ``section`` finding per section; severity and count rise with query overlap."""
    sections = split_sections(text, kind)
    terms = set(words(query))
    bags = [Counter(words(body)) for _, body, _ in sections]
    n = max(1, len(sections))
    idf = {t: math.log(1 + n / (1 + sum(1 for bag in bags if t in bag))) for t in terms}
    scores = []
    for (heading, _, _), bag in zip(sections, bags, strict=True):
        heading_words = set(words(heading))
        score = sum(idf[t] * (math.log1p(bag[t]) + 2 * (t in heading_words)) for t in terms)
        scores.append(score)
    top = max(scores, default=0.0) or 1.0
    out = []
    for (heading, body, line), bag, score in zip(sections, bags, scores, strict=True):
        hits = sum(bag[t] for t in terms)
        out.append(
            Finding(
                "section",
                SEVERITY["section"] + round(9 * score / top),
                trim(f"{heading} (line {line})", 200),
                hits,
                examples=[trim(body, SECTION_CHARS)],
                material=material,
            )
        )
    return out
