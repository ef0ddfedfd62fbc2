"""The condensed evidence: materials in, ranked findings out, rendered within a token budget."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# What each kind weighs when findings are ranked: higher goes first.
SEVERITY: dict[str, int] = {
    "oom_kill": 100,
    "crash_loop": 95,
    "test_failure": 90,
    "exception": 85,
    "error": 75,
    "restart": 65,
    "slow_query": 60,
    "warning": 40,
    "frame": 30,
    "rare": 20,
    "hunk": 15,
    "template": 10,
    "section": 10,
}
# Kinds that say something went wrong; ordinary traffic must never produce one.
INCIDENT_KINDS = frozenset(
    {"oom_kill", "crash_loop", "test_failure", "exception", "error", "restart", "slow_query"}
)
EXAMPLE_CHARS = 300


def count_tokens(text: str) -> int:
    """Tokens ``text`` costs, estimated: 4 ASCII characters a token, non-ASCII dearer."""
    if not text:
        return 0
    extra = len(text.encode("utf-8", "replace")) - len(text)  # bytes beyond one a character
    return (len(text) + 3) // 4 + (extra + 1) // 2


def trim(line: str, limit: int = EXAMPLE_CHARS) -> str:
    line = line.strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


_NON_DIGITS = re.compile(r"\D{1,40}")
_CLF_TS = re.compile(r"^(\d{2})/([A-Za-z]{3})/(\d{4}:.{0,40})")
_MONTHS = {
    m: f"{i + 1:02d}"
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}


def ts_key(ts: str) -> str:
    """A sortable key for a timestamp as written: its digits, month names as numbers.

    Timestamps in one format compare correctly; fractions of a second are padded so
    ``…14.5`` sorts after ``…14.123``. Time zones are ignored.
    """
    clf = _CLF_TS.match(ts)
    if clf:  # 26/Nov/2026:00:00:00: year, month, day first
        day, month_name, rest = clf.group(1), clf.group(2), clf.group(3)
        ts = rest[:4] + _MONTHS.get(month_name.lower(), "00") + day + rest[4:]
    head, dot, frac = ts.partition(".")
    if not dot:
        head, dot, frac = ts.partition(",")
    month = _MONTHS.get(head[:3].lower(), "")
    digits = month + _NON_DIGITS.sub("", head[:40])
    fraction = _NON_DIGITS.sub("", frac[:12])[:9]
    return digits + "." + fraction.ljust(9, "0")


def earlier(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    return a if ts_key(a) <= ts_key(b) else b


def later(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    return a if ts_key(a) >= ts_key(b) else b


@dataclass(frozen=True)
class Material:
    """One attached piece of material."""

    name: str  # e.g. "app.log", "stdin", "pasted"
    text: str
    kind: str | None = None  # "log" | "trace" | "diff" | "document" | "code"; None = detect


@dataclass
class Finding:
    """One thing the material says: a log template, an exception, a hunk, a section."""

    kind: str
    severity: int  # higher = ranked first
    summary: str  # the template / exception line / hunk header / section heading
    count: int
    first: str | None = None  # first timestamp seen (as written in the log)
    last: str | None = None
    sources: list[str] = field(default_factory=list)  # pods/hosts/containers/files
    examples: list[str] = field(default_factory=list)  # one or two raw lines (trimmed)
    material: str = ""  # Material.name


def rank(findings: list[Finding]) -> list[Finding]:
    """Most severe first; among equals, most frequent first; otherwise the order given."""
    return sorted(findings, key=lambda f: (-f.severity, -f.count))


def _seconds(ts: str) -> float | None:
    try:
        return datetime.fromisoformat(ts.replace(",", ".")).timestamp()
    except ValueError:
        return None


def span(first: str, last: str) -> str:
    """ " (over 15 s)" between two ISO timestamps, "" for other formats."""
    a, b = _seconds(first), _seconds(last)
    if a is None or b is None or b < a:
        return ""
    seconds = b - a
    if seconds < 120:
        return f" (over {seconds:.0f} s)"
    return (
        f" (over {seconds / 60:.0f} min)" if seconds < 7200 else f" (over {seconds / 3600:.0f} h)"
    )


def _window(f: Finding) -> str:
    if f.first and f.last and f.first != f.last:
        return f" {f.first} → {f.last}{span(f.first, f.last)}"
    return f" at {f.first}" if f.first else ""


def _sources(f: Finding, shown: int = 4) -> str:
    if not f.sources:
        return ""
    names = ", ".join(f.sources[:shown])
    more = f" (+{len(f.sources) - shown})" if len(f.sources) > shown else ""
    return f" from {names}{more}"


def render_finding(f: Finding, number: int, multi: bool) -> str:
    """One finding as a few lines of evidence."""
    where = f" [{f.material}]" if multi and f.material else ""
    head = f"{number}. {f.kind.upper()} ×{f.count}{_window(f)}{_sources(f)}{where}"
    lines = [head, f"   {f.summary}"]
    label = "" if f.kind == "section" else "e.g. "
    shown = 2 if f.kind in INCIDENT_KINDS else 1  # first and last of an incident, else one
    for example in f.examples[:shown]:
        if example and example != f.summary:
            lines.append(f"   {label}{example}")
    return "\n".join(lines)


def fit(text: str, budget: int) -> str:
    """``text`` cut at the end (on a line if it can) to at most ``budget`` tokens."""
    if count_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within budget
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    newline = cut.rfind("\n")
    return cut[:newline] if newline > 0 else cut


def fit_tail(text: str, budget: int) -> str:
    """The end of ``text`` (whole lines where it can) within ``budget`` tokens."""
    if count_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # shortest suffix start within budget
        mid = (lo + hi) // 2
        if count_tokens(text[mid:]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    cut = text[lo:]
    newline = cut.find("\n")
    return cut[newline + 1 :] if 0 <= newline < len(cut) - 1 else cut


@dataclass
class Condensed:
    """Ranked findings over all materials, plus what went in."""

    findings: list[Finding]
    input_bytes: int
    input_lines: int
    templates: int  # distinct log templates mined (0 if no logs)
    kinds: dict[str, str]  # material name -> detected kind
    window: tuple[str | None, str | None]  # first/last timestamp over all logs
    notes: list[str] = field(default_factory=list)

    def header(self) -> str:
        kinds = ", ".join(f"{name} ({kind})" for name, kind in self.kinds.items())
        parts = [
            f"Evidence condensed from {kinds or 'no material'}: "
            f"{self.input_lines} lines, {self.input_bytes} bytes"
        ]
        if self.templates:
            parts.append(f"{self.templates} distinct log templates")
        if self.window[0]:
            parts.append(f"time window {self.window[0]} → {self.window[1]}")
        text = "; ".join(parts) + "."
        return "\n".join([text, *(f"Note: {n}" for n in self.notes)])

    def render(self, budget_tokens: int = 3000, tail: str | None = None) -> str:
        """The evidence section for the large model, never over ``budget_tokens``."""
        return render(self, budget_tokens, tail)

    def stats(self) -> dict[str, Any]:
        """What went in and what came out, JSON-able."""
        return {
            "input_bytes": self.input_bytes,
            "input_lines": self.input_lines,
            "templates": self.templates,
            "findings": len(self.findings),
            "kinds": dict(self.kinds),
            "window": list(self.window),
        }


def render(c: Condensed, budget: int, tail: str | None) -> str:
    """Header, then findings in rank order while they fit, then what was cut, then the tail."""
    budget = max(0, budget)
    header = fit(c.header(), max(0, budget // 4))
    tail_text = tail.strip("\n") if tail else ""
    tail_reserve = min(count_tokens(tail_text) + 8, budget // 4) if tail_text else 0
    multi = len(c.kinds) > 1
    blocks: list[str] = []
    used = count_tokens(header) + 2
    room = budget - tail_reserve - 30  # 30: the line that says what was left out
    for i, f in enumerate(c.findings):
        block = render_finding(f, i + 1, multi)
        cost = count_tokens(block) + 1
        if used + cost > room:
            break
        blocks.append(block)
        used += cost
    out = "\n".join([header, "", *blocks]) if blocks else header
    left = c.findings[len(blocks) :]
    if left:
        kinds = sorted({f.kind for f in left})
        out += (
            f"\n[{len(left)} of {len(c.findings)} findings left out for the budget:"
            f" {', '.join(kinds[:6])}{'…' if len(kinds) > 6 else ''}]"
        )
    out = fit(out, budget)
    if tail_text:
        room_left = budget - count_tokens(out) - count_tokens("\n\nLast lines:\n") - 1
        if room_left > 0:
            piece = fit_tail(tail_text, room_left)
            if piece:
                out += "\n\nLast lines:\n" + piece
    return fit(out, budget)
