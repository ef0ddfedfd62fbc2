"""Unified and git diffs: per file, lines added and removed and the hunk headers, biggest first."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .model import SEVERITY, Finding, trim

_GIT = re.compile(r"^diff --git a/(\S{1,1000}) b/(\S{1,1000})")
_OLD = re.compile(r"^--- (?:a/)?(\S{1,1000})")
_NEW = re.compile(r"^\+\+\+ (?:b/)?(\S{1,1000})")
_HUNK = re.compile(r"^@@ -\d{1,10}(?:,(\d{1,10}))? \+\d{1,10}(?:,(\d{1,10}))? @@")
_STATUS = ("new file mode", "deleted file mode", "rename from", "rename to", "Binary files")


@dataclass
class _File:
    path: str
    added: int = 0
    removed: int = 0
    hunks: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)


def _hunk_line(f: _File, line: str, left: list[int]) -> None:
    """One line inside a hunk: counted, and the hunk's remaining old/new lines reduced."""
    mark = line[:1]
    if mark == "+":
        f.added += 1
        left[1] -= 1
    elif mark == "-":
        f.removed += 1
        left[0] -= 1
    elif mark != "\\":  # context (or an empty context line some tools write)
        left[0] -= 1
        left[1] -= 1


def _files(lines: list[str]) -> list[_File]:
    files: list[_File] = []
    current: _File | None = None
    left = [0, 0]  # old and new lines the current hunk still has
    for line in lines:
        if current is not None and (left[0] > 0 or left[1] > 0):
            if not line.startswith(("@@ -", "diff --git ")):  # a header: the counts were wrong
                _hunk_line(current, line, left)
                continue
            left = [0, 0]
        git = _GIT.match(line)
        if git:
            current = _File(git.group(2))
            files.append(current)
        elif line.startswith("--- "):
            old = _OLD.match(line)
            if current is None or current.hunks:
                current = _File(old.group(1) if old else "?")
                files.append(current)
        elif current is None:
            continue
        elif line.startswith("+++ "):
            new = _NEW.match(line)
            if new and new.group(1) != "/dev/null":
                current.path = new.group(1)
        elif hunk := _HUNK.match(line):
            current.hunks.append(trim(line, 200))
            left = [int(hunk.group(1) or 1), int(hunk.group(2) or 1)]
        elif line.startswith(_STATUS):
            current.status.append(line.strip())
    return files


def condense_diff(text: str, material: str = "") -> list[Finding]:
    """One ``hunk`` finding per file changed: "+a -r, n hunks", count = lines changed."""
    out = []
    for f in _files(text.split("\n")):
        status = f" ({'; '.join(f.status[:2])})" if f.status else ""
        summary = f"{f.path}: +{f.added} -{f.removed} in {len(f.hunks)} hunk(s){status}"
        out.append(
            Finding(
                "hunk",
                SEVERITY["hunk"],
                summary,
                max(1, f.added + f.removed),
                sources=[f.path],
                examples=f.hunks[:2],
                material=material,
            )
        )
    return sorted(out, key=lambda f: -f.count)
