"""Adding up findings: the same kind and summary become one finding with the counts summed."""

from __future__ import annotations

from .model import Finding, earlier, later, rank
from .text import normalise

MAX_SOURCES = 50
MAX_EXAMPLES = 2
# Kinds whose numbers are part of what they say: a frame's line, a test's id, a file's counts.
EXACT_KINDS = frozenset({"frame", "hunk", "section", "test_failure"})


def key(finding: Finding) -> tuple[str, str]:
    """What two findings share when they are the same thing."""
    if finding.kind in EXACT_KINDS:
        return finding.kind, " ".join(finding.summary.split())
    return finding.kind, normalise(finding.summary)


def absorb(into: Finding, other: Finding) -> None:
    """``other`` added to ``into``: counts summed, window widened, sources and examples kept."""
    into.count += other.count
    into.severity = max(into.severity, other.severity)
    into.first = earlier(into.first, other.first)
    into.last = later(into.last, other.last)
    for source in other.sources:
        if len(into.sources) >= MAX_SOURCES:
            break
        if source not in into.sources:
            into.sources.append(source)
    for example in other.examples:
        if len(into.examples) >= MAX_EXAMPLES:
            break
        if example not in into.examples:
            into.examples.append(example)


class Tally:
    """Findings keyed by (kind, normalised summary), in the order first seen."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Finding] = {}

    def add(self, finding: Finding) -> Finding:
        k = key(finding)
        held = self._by_key.get(k)
        if held is None:
            held = Finding(
                kind=finding.kind,
                severity=finding.severity,
                summary=finding.summary,
                count=0,
                material=finding.material,
            )
            self._by_key[k] = held
        absorb(held, finding)
        return held

    def findings(self) -> list[Finding]:
        return list(self._by_key.values())


def merge(findings: list[list[Finding]]) -> list[Finding]:
    """Per-chunk findings as one ranked list.

    Findings of the same kind whose summaries match once numbers, ids and spacing are
    masked (frames, hunks, sections and failing tests: match exactly) become one: counts summed, ``first`` the earliest, ``last`` the latest,
    sources unioned, at most two examples, the highest severity. The inputs are not
    changed.
    """
    tally = Tally()
    for group in findings:
        for finding in group:
            tally.add(finding)
    return rank(tally.findings())
