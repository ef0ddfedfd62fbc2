"""SensitiveDataFilter: secrets and personal data become placeholders before text leaves.

Each value becomes a stable placeholder (``[SECRET_1]``, ``[EMAIL_2]``): the same
value gets the same placeholder everywhere in a request, so the large model can
still refer to it, and its answer gets the originals back before the user sees
it, also when it streams. The mapping lives in this object only, for one request.

Threads: a filter object holds one request's mapping and is used from one thread
at a time (``asyncio.to_thread(f.redact, big_text)`` is fine). The compiled rules
(``default_rules()``) are immutable and shared safely by every thread.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from .extractors import key_strength
from .heuristics import looks_secret
from .rules import (
    Rule,
    RulesFile,
    RuleSpec,
    SensitiveDataError,
    default_rules,
    load_rules,
)
from .scan import Scan
from .structured import Slot, collect_json, collect_schema, fill

PLACEHOLDER = re.compile(r"\[([A-Z][A-Z_]{0,40})_(\d{1,9})\]")

__all__ = [
    "PLACEHOLDER",
    "Rule",
    "RuleSpec",
    "RulesFile",
    "SensitiveDataError",
    "SensitiveDataFilter",
    "StreamRestorer",
    "default_rules",
    "load_rules",
]

CLEAN_MEMO_CHARS, CLEAN_MEMO_SIZE = 65_536, 256

# Joins the strings of a JSON value for one batched scan; no span may cover its NUL.
_SEPARATOR = "\n\x00\n"


class SensitiveDataFilter:
    """Redacts text on the way out and restores the large model's answer on the way back."""

    def __init__(self, rules: tuple[Rule, ...] | list[Rule] | None = None) -> None:
        self.rules = tuple(rules) if rules is not None else default_rules()
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._next: Counter[str] = Counter()
        self._seen: set[str] = set()
        self._clean: set[str] = set()  # texts already scanned and found clean (bounded)
        self.counts: Counter[str] = (
            Counter()
        )  # rule name -> distinct values found (never the values)

    def redact(self, text: str) -> str:
        if not text or text in self._clean:
            return text  # the same text is often redacted twice per request: scan it once
        taken = self._find(text)
        if not taken and len(text) <= CLEAN_MEMO_CHARS and len(self._clean) < CLEAN_MEMO_SIZE:
            self._clean.add(text)
        return self._apply(text, taken)

    def _find(self, text: str, protected: Iterable[int] = ()) -> list[tuple[int, int, Rule, str]]:
        """Non-overlapping spans; where two rules' spans overlap, the earlier rule's wins."""
        scan = Scan(text)
        mask = bytearray(len(text))
        for p in protected:
            mask[p] = 1
        taken: list[tuple[int, int, Rule, str]] = []
        for rule in self.rules:
            for start, end, value in rule.find(scan):
                if mask.find(1, start, end) != -1:
                    continue
                mask[start:end] = b"\x01" * (end - start)
                taken.append((start, end, rule, value))
        taken.sort(key=lambda t: t[0])
        return taken

    def _apply(self, text: str, taken: list[tuple[int, int, Rule, str]]) -> str:
        if not taken:
            return text
        out, pos = [], 0
        for start, end, rule, value in taken:
            out.append(text[pos:start])
            out.append(self._replacement(rule, value))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _replacement(self, rule: Rule, value: str) -> str:
        if value not in self._seen:  # counts are of distinct values, however often they recur
            self._seen.add(value)
            self.counts[rule.spec.name] += 1
        action = rule.spec.action
        if action == "keep":
            return value
        if action == "mask":
            return "*" * max(0, len(value) - 4) + value[-4:]
        if value not in self._by_value:
            self._next[rule.spec.label] += 1
            placeholder = f"[{rule.spec.label}_{self._next[rule.spec.label]}]"
            self._by_value[value] = placeholder
            self._by_placeholder[placeholder] = value
        return self._by_value[value]

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """Several strings redacted in one scan (same placeholders as one ``redact`` each)."""
        if len(texts) <= 1 or any(_SEPARATOR in t for t in texts):
            return [self.redact(t) for t in texts]
        joined = _SEPARATOR.join(texts)
        protected, pos = [], 0
        for t in texts[:-1]:
            pos += len(t)
            protected.append(pos + 1)
            pos += len(_SEPARATOR)
        parts = self._apply(joined, self._find(joined, protected)).split(_SEPARATOR)
        if len(parts) != len(texts):  # pragma: no cover - the separator is protected
            raise AssertionError("a redaction crossed a separator")
        return parts

    def redact_content(self, content: Any) -> Any:
        """A message's content, as a string or a list of parts."""
        if isinstance(content, str):
            return self.redact(content)
        if isinstance(content, list):
            return [
                {**p, "text": self.redact(p["text"])}
                if isinstance(p, dict) and isinstance(p.get("text"), str)
                else p
                for p in content
            ]
        return content

    def redact_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**m, "content": self.redact_content(m.get("content"))} for m in messages]

    def redact_json(self, value: Any) -> Any:
        """A deep copy of a JSON-like value with its string values redacted (never dict keys)."""
        return self._redact_slots(collect_json, value)

    def redact_schema(self, schema: Any) -> Any:
        """A deep copy of a JSON Schema with only its human text redacted.

        ``description``, ``title``, ``default``, ``examples``, ``const``; never property
        names, ``pattern``, ``enum``, ``type``, ``format``, ``$ref`` or ``required``.
        """
        return self._redact_slots(collect_schema, schema)

    def _redact_slots(self, collect: Any, value: Any) -> Any:
        slots: list[Slot] = []
        copy = collect(value, slots)
        rule = next((r for r in self.rules if r.spec.name == "assigned_secret"), None)
        rest = [s for s in slots if rule is None or not self._keyed_secret(s, rule)]
        for slot, text in zip(rest, self.redact_many([s.text for s in rest]), strict=True):
            slot.text = text
        return fill(copy)

    def _keyed_secret(self, slot: Slot, rule: Rule) -> bool:
        """``{"password": "Zaq12wsx!"}``: the key says what the bare value is (as in ``password: ...``)."""
        if slot.key is None or len(slot.text) > 1024:
            return False
        strength = key_strength(slot.key)
        value = slot.text.strip()
        if not strength or value != slot.text or not looks_secret(value, strong=strength == 2):
            return False
        slot.text = self._replacement(rule, value)
        return True

    def restore(self, text: str) -> str:
        if not self._by_placeholder:
            return text
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)

    def restore_json(self, text: str) -> str:
        """Restore placeholders inside JSON text (tool-call arguments): values go in JSON-escaped."""
        if not self._by_placeholder:
            return text

        def one(m: re.Match[str]) -> str:
            value = self._by_placeholder.get(m.group(0))
            return m.group(0) if value is None else json.dumps(value)[1:-1]

        return PLACEHOLDER.sub(one, text)

    def restorer(self, json: bool = False) -> StreamRestorer:
        """A restorer for a streamed answer (``json=True``: for streamed JSON text)."""
        return StreamRestorer(self, json=json)

    @property
    def report(self) -> dict[str, int]:
        """What was redacted: rule name -> count. Never the values."""
        return dict(self.counts)


_PARTIAL = re.compile(r"\[[A-Z_]{0,41}\d{0,9}$")


class StreamRestorer:
    """Restores placeholders in a stream of chunks, holding back a placeholder cut between two."""

    def __init__(self, filter_: SensitiveDataFilter, *, json: bool = False) -> None:
        self.filter = filter_
        self.pending = ""
        self._restore = filter_.restore_json if json else filter_.restore

    def feed(self, chunk: str) -> str:
        text = self.pending + chunk
        cut = text.rfind("[", max(0, len(text) - 52))
        m = _PARTIAL.match(text, cut) if cut >= 0 else None
        if m and len(text) - m.start() <= 52:
            self.pending, text = text[m.start() :], text[: m.start()]
        else:
            self.pending = ""
        return self._restore(text)

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self._restore(text)
