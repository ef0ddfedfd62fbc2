"""``condense``: every material analysed by its kind, findings ranked together."""

from __future__ import annotations

from .detect import detect_kind
from .diffs import condense_diff
from .documents import condense_document
from .logs import condense_log
from .model import Condensed, Finding, Material, earlier, later, rank
from .traces import condense_trace

KINDS = ("log", "trace", "diff", "document", "code")


def _notes(m: Material) -> list[str]:
    notes = []
    if "\ufffd" in m.text:
        notes.append(f"{m.name}: not UTF-8, decoded with replacement")
    if "\0" in m.text[:8192]:
        notes.append(f"{m.name}: contains NUL bytes (binary?)")
    return notes


def _unique(materials: list[Material]) -> list[Material]:
    """The materials, a repeated name made unique ("stdin", "stdin#2")."""
    seen: set[str] = set()
    out = []
    for m in materials:
        name, k = m.name, 1
        while name in seen:
            k += 1
            name = f"{m.name}#{k}"
        seen.add(name)
        out.append(m if name == m.name else Material(name, m.text, m.kind))
    return out


def condense(materials: list[Material], query: str = "") -> Condensed:
    """Ranked findings over all ``materials``; ``query`` ranks document and code sections."""
    findings: list[Finding] = []
    kinds: dict[str, str] = {}
    notes: list[str] = []
    templates = 0
    first: str | None = None
    last: str | None = None
    for m in _unique(materials):
        kind = m.kind if m.kind in KINDS else detect_kind(m.text[:200_000])
        if m.kind and m.kind not in KINDS:
            notes.append(f"{m.name}: unknown kind {m.kind!r}, detected {kind!r}")
        kinds[m.name] = kind
        notes += _notes(m)
        text = m.text.replace("\r\n", "\n") if "\r" in m.text else m.text
        if kind == "log":
            result = condense_log(text, m.name)
            findings += result.findings
            notes += result.notes
            templates += result.templates
            first, last = earlier(first, result.window[0]), later(last, result.window[1])
        elif kind == "trace":
            findings += condense_trace(text, m.name)
        elif kind == "diff":
            findings += condense_diff(text, m.name)
        else:
            findings += condense_document(text, kind, query, m.name)
    return Condensed(
        findings=rank(findings),
        input_bytes=sum(len(m.text.encode("utf-8", "replace")) for m in materials),
        input_lines=sum(
            m.text.count("\n") + (1 if m.text and not m.text.endswith("\n") else 0)
            for m in materials
        ),
        templates=templates,
        kinds=kinds,
        window=(first, last),
        notes=notes,
    )
