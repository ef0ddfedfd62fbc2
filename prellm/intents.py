"""Intent shortlists: lexical retrieval of candidate labels, the first stage of two-stage classification.

A small model chooses badly among 77 labels and well among 8. A taxonomy of more
than 20 labels is shortlisted by default (8 per request; ``shortlist:`` in an
intents file or ``prellm eval classify --shortlist K`` sets K, 0 turns it off):
each request offers the model only the K labels that retrieval ranks highest for
it, best first, each described with its example closest to the request.

Every label (name and description) and every example is a document; a query
scores each label by the sum of its three best-matching documents under BM25.
Stems are the first five letters of each word, which is crude but language-neutral
(it also groups Polish inflections) and needs no dependency.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from .config.schema import IntentSpec

_K1, _B = 1.2, 0.75
_BEST_DOCS = 3  # several close examples outweigh one lucky match
DEFAULT_SHORTLIST = 8  # labels offered per request when a taxonomy is big
SHORTLIST_ABOVE = 20  # a taxonomy with more labels than this is big


def shortlist_size(labels: int, asked: int | None) -> int:
    """How many labels to offer per request (0: all of them, no retrieval).

    ``asked`` is what the user set (``shortlist:`` in an intents file, ``--shortlist``);
    None means the default: a shortlist of ``DEFAULT_SHORTLIST`` for a taxonomy of more
    than ``SHORTLIST_ABOVE`` labels, none for a smaller one. 0 turns it off.
    """
    k = asked if asked is not None else (DEFAULT_SHORTLIST if labels > SHORTLIST_ABOVE else 0)
    return k if 0 < k < labels else 0


def stems(text: str) -> list[str]:
    return [w[:5] for w in re.findall(r"[a-z0-9]+", text.lower().replace("_", " ")) if len(w) > 2]


@dataclass(frozen=True)
class Candidate:
    name: str
    score: float
    closest_example: str | None


class LabelIndex:
    """BM25 over intents' names, descriptions and examples."""

    def __init__(self, intents: Sequence[IntentSpec]) -> None:
        self._docs: list[tuple[str, str | None, Counter[str], int]] = []
        self._described = {lb.name: lb.as_prompt_item()["description"] for lb in intents}
        for lb in intents:
            head = stems(f"{lb.name} {lb.description}")
            self._docs.append((lb.name, None, Counter(head), len(head)))
            for ex in lb.examples:
                words = stems(ex)
                self._docs.append((lb.name, ex, Counter(words), len(words)))
        self._names = [lb.name for lb in intents]
        n = len(self._docs)
        df: Counter[str] = Counter()
        for *_, tf, _len in self._docs:
            df.update(tf.keys())
        self._idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        self._avg_len = (sum(d[3] for d in self._docs) / n if n else 0.0) or 1.0

    def rank(self, text: str, k: int) -> list[Candidate]:
        """The k best labels for ``text``, best first, each with its closest example."""
        query = set(stems(text))
        per_label: dict[str, list[tuple[float, str | None]]] = defaultdict(list)
        for name, example, tf, length in self._docs:
            score = 0.0
            for w in query & tf.keys():
                f = tf[w]
                norm = f + _K1 * (1 - _B + _B * length / self._avg_len)
                score += self._idf[w] * f * (_K1 + 1) / norm
            per_label[name].append((score, example))
        ranked = []
        for order, name in enumerate(self._names):
            docs = sorted(per_label[name], key=lambda d: -d[0])
            total = sum(s for s, _ in docs[:_BEST_DOCS])
            closest = next((ex for s, ex in docs if ex is not None), None)
            # Ties keep the taxonomy's order, so the ranking is deterministic.
            ranked.append((-total, order, Candidate(name, total, closest)))
        return [c for *_, c in sorted(ranked, key=lambda r: (r[0], r[1]))[:k]]

    def shortlist(
        self, text: str, k: int, *, fallback: str | None = None, fallback_score: float | None = None
    ) -> list[dict[str, str]]:
        """The intents to offer the small model for ``text``: the k best, best first.

        ``fallback`` (a "none of these" label such as out_of_scope) is always offered:
        first when no label scores ``fallback_score`` or more, else last.
        """
        ranked = [c for c in self.rank(text, k) if c.name != fallback]
        if fallback is not None:
            at = len(ranked)
            if fallback_score is not None:
                at = next((i for i, c in enumerate(ranked) if c.score < fallback_score), at)
            ranked.insert(at, Candidate(fallback, fallback_score or 0.0, None))
        return [
            {
                "name": c.name,
                "description": self._described[c.name]
                + (f' (e.g. "{c.closest_example}")' if c.closest_example else ""),
            }
            for c in ranked
        ]


def calibrate_oos_score(index: LabelIndex, in_scope: list[str], out_of_scope: list[str]) -> float:
    """The best-label score that best separates in-scope texts from out-of-scope ones.

    Chosen on held-out texts (e.g. a validation split) to maximise the share of
    out-of-scope texts below it minus the share of in-scope texts below it.
    """
    if not in_scope or not out_of_scope:
        raise ValueError("calibration needs in-scope and out-of-scope texts")
    top = {
        True: sorted(index.rank(t, 1)[0].score for t in in_scope),
        False: sorted(index.rank(t, 1)[0].score for t in out_of_scope),
    }

    def below(scores: list[float], threshold: float) -> float:
        return sum(s < threshold for s in scores) / len(scores)

    candidates = sorted(set(top[True]) | set(top[False]))
    return max(candidates, key=lambda t: (below(top[False], t) - below(top[True], t), -t))
