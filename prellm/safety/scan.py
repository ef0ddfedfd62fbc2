"""One text being redacted: its lowercase copy and where each rule's anchors occur, computed once.

A rule with ``anchors`` (lowercase literals) runs only when one of them occurs in
the text; with ``anchored: true`` the pattern is tried only at their positions,
with a ``window`` only around them (merged windows, so every character is scanned
at most once per rule). Where anchors are so dense that this would not save
anything, the rule scans the whole text. A ``prefilter`` pattern plays the role of
the anchors for rules that have no literal (numbers), shared by the rules naming it.

A ``Scan`` belongs to one ``redact`` call on one thread; nothing here is shared.
"""

from __future__ import annotations

import functools
import re
from typing import Any

Window = tuple[int, int]
DENSE = 32  # more than one anchor per this many characters: scan the whole text instead


@functools.lru_cache(maxsize=1024)
def anchor_bytes(anchor: str) -> bytes:
    return anchor.encode("ascii", "replace")


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[Any]:
    """A prefilter: on the ASCII bytes when its classes are ASCII (see ``binary_pattern``)."""
    binary = binary_pattern(pattern)
    if binary is not None:
        return binary
    return re.compile(pattern)


_UNICODE_CLASSES = re.compile(r"\\[wWsSdDbB]|\(\?[a-zA-Z]*i")


def binary_pattern(pattern: str) -> re.Pattern[bytes] | None:
    """``pattern`` compiled for ``Scan.ascii`` if that gives the same spans as on the text.

    So: ASCII only, and no ``\\w \\s \\d \\b`` (Unicode-aware on str, ASCII on bytes) and
    no ignore-case (Unicode case folding). A non-ASCII character is ``?`` in the bytes:
    an explicit ASCII class does not match it there, nor the character in the text.
    """
    if not pattern.isascii() or _UNICODE_CLASSES.search(pattern):
        return None
    try:
        return re.compile(pattern.encode("ascii"))
    except re.error:  # pragma: no cover - it compiled as str
        return None


def _merge(spans: list[Window]) -> list[Window]:
    merged: list[Window] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


class Scan:
    """The text, its lowercase copy (lazily) and per-anchor facts, shared by all rules of a call."""

    __slots__ = ("text", "_ascii", "_lower", "_found", "_windows", "memo")

    def __init__(self, text: str) -> None:
        self.text = text
        self._ascii: bytes | None = None
        self._lower: bytes | None = None
        self._found: dict[str, list[int] | None] = {}  # anchor -> positions (None: dense)
        self._windows: dict[tuple[tuple[str, ...], Window], list[Window]] = {}
        self.memo: dict[str, Any] = {}  # per-text facts an extractor computes once

    @property
    def ascii(self) -> bytes:
        """The text as bytes, one per character: ASCII as it is, any other character ``?``.

        Positions in it are positions in the text, so a pattern of ASCII classes runs
        on it (half the memory traffic of a str with a non-ASCII character) with the
        same spans.
        """
        if self._ascii is None:
            self._ascii = self.text.encode("ascii", "replace")
        return self._ascii

    @property
    def lower(self) -> bytes:
        """``ascii`` lowercased: anchors are searched in it (``hasło`` as ``has?o``, a superset)."""
        if self._lower is None:
            self._lower = self.ascii.lower()
        return self._lower

    def found(self, anchor: str) -> list[int] | None:
        """Where ``anchor`` occurs (one pass over the text), or None if more often than DENSE."""
        if anchor not in self._found:
            low, needle = self.lower, anchor_bytes(anchor)
            cap = len(low) // DENSE + 1
            out: list[int] = []
            i = low.find(needle)
            while i >= 0 and len(out) <= cap:
                out.append(i)
                i = low.find(needle, i + 1)
            self._found[anchor] = None if len(out) > cap else out
        return self._found[anchor]

    def has_any(self, anchors: tuple[str, ...]) -> bool:
        for a in anchors:
            found = self._found.get(a, 0)
            if found == 0:
                found = self.found(a)
            if found != []:
                return True
        return False

    def positions(self, anchors: tuple[str, ...]) -> list[int] | None:
        """Every position where an anchor starts, ascending; None if they are dense."""
        out: list[int] = []
        for a in anchors:
            found = self.found(a)
            if found is None:
                return None
            out += found
        if len(out) * DENSE > len(self.text):
            return None
        out.sort()
        return out

    def windows(self, anchors: tuple[str, ...], window: Window) -> list[Window]:
        """Merged ``[start, end)`` ranges around every occurrence of any anchor."""
        key = (anchors, window)
        if key not in self._windows:
            n, (before, after) = len(self.text), window
            at = self.positions(anchors)
            if at is None or len(at) * (before + after + 1) >= n:
                self._windows[key] = [(0, n)]
            else:
                reach = max(len(a) for a in anchors) + after
                self._windows[key] = _merge([(max(0, p - before), min(n, p + reach)) for p in at])
        return self._windows[key]

    def pattern_windows(self, pattern: str, window: Window) -> list[Window]:
        """Merged ranges around every match of a prefilter pattern (shared by the rules naming it)."""
        key = ((pattern,), window)
        if key not in self._windows:
            n, (before, after) = len(self.text), window
            memo_key = "prefilter:" + pattern
            if memo_key not in self.memo:
                compiled = _compiled(pattern)
                haystack = self.ascii if isinstance(compiled.pattern, bytes) else self.text
                self.memo[memo_key] = [m.span() for m in compiled.finditer(haystack)]
            spans = self.memo[memo_key]
            if len(spans) * DENSE * 8 > n:  # so many windows that one pass is cheaper
                self._windows[key] = [(0, n)]
            else:
                self._windows[key] = _merge(
                    [(max(0, s - before), min(n, e + after)) for s, e in spans]
                )
        return self._windows[key]
