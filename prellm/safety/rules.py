"""Sensitive-data rules: the YAML model, compiling, and running one rule over a text.

Shipped rules (``prellm/data/sensitive.yaml``) are written to run in linear time
(bounded or possessive quantifiers, a literal first, lookbehinds after it) and are
checked on adversarial inputs by ``benchmarks/bench_sensitive.py``. A rule may
name ``anchors`` (lowercase literals): it then runs only when one occurs, and with
``anchored: true`` only at their positions, with ``window: [before, after]`` only
around them.

User rules (``load_rules([file])``) cannot be reviewed like that, so: at load time
each pattern runs on small adversarial probes with a time limit, and a pattern that
backtracks catastrophically is a ``ConfigError``; at run time user patterns run on
the ``regex`` package with a time limit (1 s plus 2 s per MB of text), and running
over it raises ``SensitiveDataError`` so that nothing unredacted is sent.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from ..config.resources import load_yaml_text, shipped_yaml
from ..errors import ConfigError, PreLLMError
from .extractors import Extractor, Span, extractor, known, lookback, value_span
from .scan import Scan, binary_pattern
from .validators import VALIDATORS

Found = tuple[int, int, str]


class SensitiveDataError(PreLLMError):
    """A user's sensitive-data rule ran over its time limit: the text was not sent."""


class RuleSpec(BaseModel):
    """One rule of ``sensitive.yaml``."""

    name: str
    label: str = Field(pattern=r"^[A-Z][A-Z_]*$")
    pattern: str
    validator: str | None = None
    action: Literal["redact", "mask", "keep"] = "redact"
    anchors: list[str] = []
    anchored: bool = False
    window: tuple[int, int] | None = None
    prefilter: str | None = None

    @field_validator("pattern", "prefilter")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
        return v

    @field_validator("validator")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and not known(v):
            from .extractors import EXTRACTORS
            from .validators import VALIDATORS

            names = ", ".join([*VALIDATORS, *EXTRACTORS])
            raise ValueError(f"unknown validator {v!r}; known: {names}")
        return v

    @field_validator("anchors")
    @classmethod
    def _lowercase(cls, v: list[str]) -> list[str]:
        if any(not a or a != a.lower() for a in v):
            raise ValueError("anchors are non-empty lowercase literals")
        return v

    @model_validator(mode="after")
    def _needs_anchors(self) -> RuleSpec:
        if (self.anchored or self.window) and not (self.anchors or self.prefilter):
            raise ValueError("'anchored' and 'window' need 'anchors' or 'prefilter'")
        return self


class RulesFile(BaseModel):
    rules: list[RuleSpec]


@dataclass(frozen=True)
class Rule:
    spec: RuleSpec
    regex: Any  # re.Pattern[str]; a regex.Pattern for a user's rule
    check: Extractor | None
    source: str = "prellm/data/sensitive.yaml"
    user: bool = False
    anchors: tuple[str, ...] = field(init=False)
    back: int | None = field(init=False)  # how far before a match its extractor looks
    literal: str = field(init=False)  # what every match starts with (may be "")
    binary: re.Pattern[bytes] | None = field(init=False)  # the pattern for Scan.ascii

    def __post_init__(self) -> None:
        spec = self.spec
        object.__setattr__(self, "anchors", tuple(spec.anchors))
        object.__setattr__(self, "back", lookback(spec.validator))
        object.__setattr__(self, "literal", _literal_prefix(spec.pattern))
        # only where nothing reads the match but its positions: no extractor, not a user's
        binary = None
        if not self.user and (spec.validator is None or spec.validator in VALIDATORS):
            binary = binary_pattern(spec.pattern)
        object.__setattr__(self, "binary", binary)

    def spans(self, text: str) -> list[Found]:
        return self.find(Scan(text))

    def find(self, scan: Scan) -> list[Found]:
        """Every ``(start, end, value)`` this rule redacts in the scanned text."""
        text = scan.text
        if len(text) < _SMALL and self.literal not in text:
            return []  # a short text: a substring test is cheaper than starting the pattern
        if self.anchors and not scan.has_any(self.anchors):
            return []
        check, back = self.check, self.back
        out: list[Found] = []
        if check is None:
            for m in self._matches(scan):
                s, e = value_span(m)
                if s < e:
                    out.append((s, e, text[s:e]))
            return out
        seen: dict[str, tuple[Span, ...]] = {}
        for m in self._matches(scan):
            if back is None:
                spans: Iterable[Span] = check(m, scan)
            else:  # the same match in the same context is decided once (repetitive input)
                s0 = m.start()
                end = m.end() + 48
                key = text[s0 - back : end] if s0 >= back else f"{s0}\0{text[:end]}"
                rel = seen.get(key)
                if rel is None:
                    rel = tuple((s - s0, e - s0) for s, e in check(m, scan))
                    if len(seen) < 4096:
                        seen[key] = rel
                spans = [(s0 + s, s0 + e) for s, e in rel]
            out.extend((s, e, text[s:e]) for s, e in spans if s < e)
        return out

    def _matches(self, scan: Scan) -> Iterable[re.Match[str]]:
        text, n, spec = scan.text, len(scan.text), self.spec
        if self.user:
            run: _Plain = _Runner(self, text)
        elif self.binary is not None:
            run = _Plain(self.binary, scan.ascii)
        else:
            run = _Plain(self.regex, text)
        if spec.prefilter:
            windows = scan.pattern_windows(spec.prefilter, spec.window or (0, 0))
        elif spec.anchored and (at := scan.positions(self.anchors)) is not None:
            return _at_anchors(run, at)
        elif spec.window and self.anchors:
            windows = scan.windows(self.anchors, spec.window)
        else:
            return run.finditer(0, n)
        return _in_windows(run, windows, n)


_SMALL = 8192


def _literal_prefix(pattern: str) -> str:
    """The literal characters every match of ``pattern`` starts with ("" if none or unsure)."""
    try:
        from re import _constants, _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern)
        if parsed.state.flags & re.IGNORECASE:
            return ""
        out = []
        for op, av in parsed.data:
            if op is not _constants.LITERAL:
                break
            out.append(chr(av))
        return "".join(out)
    # a private API (there on every supported Python, 3.11+): without it, no shortcut
    except Exception:  # noqa: BLE001  # pragma: no cover
        return ""


def _in_windows(run: _Plain, windows: list[tuple[int, int]], n: int) -> Iterator[re.Match[str]]:
    for ws, we in windows:
        for m in run.finditer(ws, we):
            if we < n and m.end() >= we - 16:  # the window may have cut it short
                whole = run.match(m.start())
                if whole is not None:
                    yield whole
                continue
            yield m


def _at_anchors(run: _Plain, positions: list[int]) -> Iterator[re.Match[str]]:
    """The pattern tried at each anchor occurrence only (every match starts at one)."""
    last = 0
    for p in positions:
        if p < last:
            continue
        m = run.match(p)
        if m is not None:
            last = max(m.end(), p + 1)
            yield m


class _Plain:
    """Runs a shipped rule's pattern over one text (or its ASCII bytes: same positions)."""

    __slots__ = ("regex", "text")

    def __init__(self, regex: Any, text: Any) -> None:
        self.regex, self.text = regex, text

    def finditer(self, pos: int, endpos: int) -> Iterator[re.Match[Any]]:
        return self.regex.finditer(self.text, pos, endpos)  # type: ignore[no-any-return]

    def match(self, pos: int) -> re.Match[Any] | None:
        return self.regex.match(self.text, pos)  # type: ignore[no-any-return]


class _Runner(_Plain):
    """Runs a user's pattern (a ``regex`` pattern) over one text under a time limit."""

    __slots__ = ("rule", "budget", "deadline")

    def __init__(self, rule: Rule, text: str) -> None:
        super().__init__(rule.regex, text)
        self.rule = rule
        base, per_mb = USER_RULE_BUDGET
        self.budget = base + per_mb * len(text) / 1e6
        self.deadline = time.monotonic() + self.budget

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self._overrun()
        return left

    def _overrun(self) -> None:
        spec = self.rule.spec
        raise SensitiveDataError(
            f"sensitive-data rule {spec.name!r} ({self.rule.source}) took over "
            f"{self.budget:.1f}s on a {len(self.text)}-character text, so it was not sent; "
            "make the pattern linear (bounded or possessive quantifiers, no nested repeats)"
        )

    def finditer(self, pos: int, endpos: int) -> Iterator[re.Match[str]]:
        try:
            yield from self.regex.finditer(self.text, pos, endpos, timeout=self._left())
        except TimeoutError:
            self._overrun()

    def match(self, pos: int) -> re.Match[str] | None:
        try:
            m: re.Match[str] | None = self.regex.match(self.text, pos, timeout=self._left())
        except TimeoutError:
            self._overrun()
        return m


def load_rules(extra_files: Sequence[str | Path] = ()) -> list[Rule]:
    """The shipped rules, then each user file's (a user rule with a shipped name replaces it)."""
    rules = {r.spec.name: r for r in default_rules()}
    for f in extra_files:
        path = Path(f)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        for i, spec in enumerate(_parse(load_yaml_text(text, str(path)), str(path))):
            rules[spec.name] = _compile_user(spec, f"{path}: rules.{i}")
    return list(rules.values())


def _parse(data: Any, source: str) -> list[RuleSpec]:
    try:
        return RulesFile.model_validate(data).rules
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ConfigError(f"{source}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}") from None


def _compile(spec: RuleSpec) -> Rule:
    return Rule(spec, re.compile(spec.pattern), extractor(spec.validator))


@functools.cache
def default_rules() -> tuple[Rule, ...]:
    """The shipped rules, compiled once per process (immutable, safe to share between threads)."""
    specs = _parse(shipped_yaml("sensitive.yaml"), "prellm/data/sensitive.yaml")
    return tuple(_compile(s) for s in specs)


# Small adversarial inputs (each unit repeated to 1 KB and to 4 KB): a pattern that
# backtracks exponentially times out on the small one, a quadratic one takes far
# more than 4x as long on the large one; a linear one takes microseconds on both.
_PROBE_UNITS = ["a", "a.", "=", ":", "@", "-", "/", "1", " ", "a1", "a ", "a=", "a:", "aa@",
                "\\", '"', "'", "_", ".", "\n", "a\n", "+1 ", "A", "0x", "1-", "a-", "%", "[]"]  # fmt: skip
_PROBE_SECONDS = 0.25
# A user's pattern may run this long on one text: seconds, plus seconds per million characters.
USER_RULE_BUDGET = (1.0, 2.0)


def _probe_time(compiled: Any, text: str) -> float | None:
    t0 = time.perf_counter()
    try:
        for _ in compiled.finditer(text, timeout=_PROBE_SECONDS):
            pass
    except TimeoutError:
        return None
    return time.perf_counter() - t0


def _probe(compiled: Any, where: str) -> None:
    """ConfigError if the pattern is catastrophically slow on a small adversarial input."""
    for unit in _PROBE_UNITS:
        small = _probe_time(compiled, unit * (1024 // len(unit)) + "!")
        large = (
            _probe_time(compiled, unit * (4096 // len(unit)) + "!") if small is not None else None
        )
        if small is None or large is None or (large > 0.05 and large > 8 * max(small, 1e-4)):
            raise ConfigError(
                f"{where}.pattern: backtracks catastrophically (on {unit!r} repeated: "
                f"{'over ' + str(_PROBE_SECONDS) + 's on 1 KB' if small is None else 'time grows faster than the text'}); "
                "use bounded or possessive quantifiers and no nested repeats"
            )


def _compile_user(spec: RuleSpec, where: str) -> Rule:
    """A user's rule: on the ``regex`` package with a time limit (plain ``re`` if it is missing)."""
    if spec.prefilter:
        raise ConfigError(f"{where}.prefilter: only shipped rules have one; use anchors")
    try:
        import regex
    except ImportError:  # pragma: no cover - regex is a dependency
        return Rule(spec, re.compile(spec.pattern), extractor(spec.validator), source=where)
    try:
        compiled = regex.compile(spec.pattern)
    # RuleSpec compiled the pattern with re, and regex takes every pattern re takes
    except regex.error as exc:  # pragma: no cover
        raise ConfigError(f"{where}.pattern: invalid regex: {exc}") from None
    _probe(compiled, where)
    return Rule(spec, compiled, extractor(spec.validator), source=where, user=True)
