"""Domain rules: keywords (case- and accent-insensitive, so Polish inflections match) pick a
strategy, add background, and list the facts a request must state."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .config.schema import DomainRule

# Letters NFKD does not decompose into a base letter plus an accent; both cases fold alike.
_EXTRA = str.maketrans({"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ß": "ss"})


def normalize(text: str) -> str:
    """Lower case, no accents: 'Wdróż ŁÓDŹ' -> 'wdroz lodz'."""
    text = unicodedata.normalize("NFKD", text.translate(_EXTRA))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def _hit(words: list[str], norm_text: str, keyword: str) -> bool:
    kw = normalize(keyword).strip()
    if " " in kw:
        return re.search(r"\b" + re.escape(kw), norm_text) is not None
    # A prefix match: 'deploy' matches 'deployment'. Words of 5+ letters drop their last
    # letter first, so a Polish inflection matches too: 'umowa' matches 'umowe', 'umowy'.
    stem = kw[:-1] if len(kw) >= 5 else kw
    return any(w.startswith(stem) for w in words)


@dataclass
class RuleMatch:
    rule: DomainRule
    missing: list[str] = field(default_factory=list)


def match_rules(query: str, rules: list[DomainRule]) -> RuleMatch | None:
    """The first rule with a keyword in the query, and its required facts the query lacks."""
    norm = normalize(query)
    words = re.findall(r"\w+", norm)
    for rule in rules:
        if any(_hit(words, norm, k) for k in rule.keywords):
            missing = []
            for fact in rule.require:
                present = any(_hit(words, norm, k) for k in fact.keywords) or (
                    fact.pattern is not None and re.search(fact.pattern, query, re.I) is not None
                )
                if not present:
                    missing.append(fact.name)
            return RuleMatch(rule, missing)
    return None
