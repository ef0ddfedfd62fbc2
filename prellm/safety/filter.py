"""SensitiveDataFilter: secrets and personal data become placeholders before text leaves.

Each value becomes a stable placeholder (``[SECRET_1]``, ``[EMAIL_2]``): the same
value gets the same placeholder everywhere in a request, so the large model can
still refer to it, and its answer gets the originals back before the user sees
it, also when it streams. The mapping lives in this object only, for one request.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from ..config.resources import load_yaml_text, shipped_yaml
from ..errors import ConfigError
from .validators import VALIDATORS

PLACEHOLDER = re.compile(r"\[([A-Z][A-Z_]*)_(\d+)\]")


class RuleSpec(BaseModel):
    """One rule of ``sensitive.yaml``."""

    name: str
    label: str = Field(pattern=r"^[A-Z][A-Z_]*$")
    pattern: str
    validator: str | None = None
    action: Literal["redact", "mask", "keep"] = "redact"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
        return v

    @field_validator("validator")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in VALIDATORS:
            raise ValueError(f"unknown validator {v!r}; known: {', '.join(VALIDATORS)}")
        return v


class RulesFile(BaseModel):
    rules: list[RuleSpec]


@dataclass(frozen=True)
class Rule:
    spec: RuleSpec
    regex: re.Pattern[str]
    check: Callable[[str], bool] | None

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        out = []
        for m in self.regex.finditer(text):
            group = "value" if "value" in self.regex.groupindex else 0
            start, end = m.span(group)
            value = m.group(group)
            if start < end and (self.check is None or self.check(value)):
                out.append((start, end, value))
        return out


def load_rules(extra_files: Sequence[str | Path] = ()) -> list[Rule]:
    """The shipped rules, then each user file's (a user rule with a shipped name replaces it)."""
    specs = {
        r.name: r for r in _parse(shipped_yaml("sensitive.yaml"), "prellm/data/sensitive.yaml")
    }
    for f in extra_files:
        path = Path(f)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        for r in _parse(load_yaml_text(text, str(path)), str(path)):
            specs[r.name] = r
    return [_compile(s) for s in specs.values()]


def _parse(data: Any, source: str) -> list[RuleSpec]:
    try:
        return RulesFile.model_validate(data).rules
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ConfigError(f"{source}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}") from None


def _compile(spec: RuleSpec) -> Rule:
    return Rule(
        spec, re.compile(spec.pattern), VALIDATORS[spec.validator] if spec.validator else None
    )


@functools.cache
def default_rules() -> tuple[Rule, ...]:
    return tuple(load_rules())


class SensitiveDataFilter:
    """Redacts text on the way out and restores the large model's answer on the way back."""

    def __init__(self, rules: tuple[Rule, ...] | list[Rule] | None = None) -> None:
        self.rules = tuple(rules) if rules is not None else default_rules()
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._next: Counter[str] = Counter()
        self._seen: set[str] = set()
        self.counts: Counter[str] = (
            Counter()
        )  # rule name -> distinct values found (never the values)

    def redact(self, text: str) -> str:
        if not text:
            return text
        taken: list[tuple[int, int, Rule, str]] = []
        for rule in self.rules:
            for start, end, value in rule.spans(text):
                if any(start < e and s < end for s, e, _, _ in taken):
                    continue
                taken.append((start, end, rule, value))
        if not taken:
            return text
        out, pos = [], 0
        for start, end, rule, value in sorted(taken, key=lambda t: t[0]):
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

    def restore(self, text: str) -> str:
        if not self._by_placeholder:
            return text
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)

    def restorer(self) -> StreamRestorer:
        return StreamRestorer(self)

    @property
    def report(self) -> dict[str, int]:
        """What was redacted: rule name -> count. Never the values."""
        return dict(self.counts)


_PARTIAL = re.compile(r"\[[A-Z_]*\d*$")


class StreamRestorer:
    """Restores placeholders in a stream of chunks, holding back a placeholder cut between two."""

    def __init__(self, filter_: SensitiveDataFilter) -> None:
        self.filter = filter_
        self.pending = ""

    def feed(self, chunk: str) -> str:
        text = self.pending + chunk
        m = _PARTIAL.search(text)
        if m and len(text) - m.start() <= 40:
            self.pending, text = text[m.start() :], text[: m.start()]
        else:
            self.pending = ""
        return self.filter.restore(text)

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.filter.restore(text)
