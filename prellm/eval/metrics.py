"""Classification metrics on known inputs: accuracy, macro-F1, confusions, latency percentiles."""

from __future__ import annotations

from collections import Counter


def accuracy(gold: list[str], pred: list[str | None]) -> float:
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold) if gold else 0.0


def macro_f1(gold: list[str], pred: list[str | None]) -> float:
    """Unweighted mean F1 over the labels that occur in the gold set."""
    labels = sorted(set(gold))
    scores = []
    for lb in labels:
        tp = sum(g == lb and p == lb for g, p in zip(gold, pred, strict=True))
        fp = sum(g != lb and p == lb for g, p in zip(gold, pred, strict=True))
        fn = sum(g == lb and p != lb for g, p in zip(gold, pred, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def confusions(gold: list[str], pred: list[str | None], top: int = 5) -> list[tuple[str, str, int]]:
    """The most frequent (gold, predicted) mistakes."""
    c = Counter((g, p or "(none)") for g, p in zip(gold, pred, strict=True) if g != p)
    return [(g, p, n) for (g, p), n in sorted(c.items(), key=lambda t: (-t[1], t[0]))[:top]]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(1, -(-len(s) * q // 100))  # ceil
    return s[int(k) - 1]
