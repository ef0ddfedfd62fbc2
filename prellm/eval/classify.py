"""``prellm eval classify``: the engine's classify step over a labelled set.

Each item runs exactly the analysis the engine runs for ``strategy="classify"``
(same prompt, schema, validation and repair), with the taxonomy's labels as the
intent enum. With ``shortlist=K`` a lexical retrieval first picks the K labels
closest to the text, and the model chooses among those (a two-stage classifier
for taxonomies too large for a small model).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.prompts import PromptRegistry
from ..errors import ConfigError
from ..intents import LabelIndex
from ..request.analyse import strategy_analysis
from ..strategies import get_strategy
from . import metrics
from .cache import ItemCache
from .data import Taxonomy

OUT_OF_SCOPE = "out_of_scope"
# The headline figures of a classify report, in the order they are shown.
SUMMARY_KEYS = (
    "items",
    "accuracy",
    "macro_f1",
    "in_scope_accuracy",
    "oos_detection_rate",
    "valid_output_rate",
    "fallbacks",
    "latency_ms_p50",
    "latency_ms_p95",
    "small_tokens_out",
)


async def classify_item(
    text: str,
    small: str,
    taxonomy: Taxonomy,
    prompts: PromptRegistry,
    *,
    shortlist: tuple[LabelIndex, int] | None,
    oos_score: float | None = None,
    seed: int,
) -> dict[str, Any]:
    if shortlist is None:
        # On 77+ labels, examples would swamp a small model's prompt.
        intents = taxonomy.as_intents()
    else:
        index, k = shortlist
        fallback = OUT_OF_SCOPE if OUT_OF_SCOPE in taxonomy.names() else None
        intents = index.shortlist(text, k, fallback=fallback, fallback_score=oos_score)
    t0 = time.perf_counter()
    outcome = await strategy_analysis(
        get_strategy("classify"),
        small,
        prompts=prompts,
        intents=intents,
        query=text,
        history="",
        user_context=None,
        small_kwargs={"temperature": 0, "seed": seed},
    )
    ms = (time.perf_counter() - t0) * 1000
    d = outcome.decomposition
    return {
        "pred": d.intent if d else None,
        "valid_first": bool(outcome.stages) and outcome.stages[0].ok,
        "fallback": outcome.fallback_reason,
        "tokens_in": sum(s.prompt_tokens for s in outcome.stages),
        "tokens_out": sum(s.completion_tokens for s in outcome.stages),
        "ms": ms,
    }


def run_classify(
    rows: list[dict[str, str]],
    small: str,
    taxonomy: Taxonomy,
    *,
    dataset: str,
    shortlist_k: int | None = None,
    oos_score: float | None = None,
    seed: int = 0,
    on_item: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    names = set(taxonomy.names())
    unknown = sorted({r["label"] for r in rows} - names)
    if unknown:
        raise ConfigError(
            f"labels in the dataset but not in the taxonomy: {', '.join(unknown[:10])}"
        )
    prompts = PromptRegistry.default()
    cache = ItemCache(
        "classify",
        {
            "dataset": str(Path(dataset).resolve()),
            "small": small,
            "labels": sorted(names),
            "shortlist": shortlist_k,
            "seed": seed,
            "texts": [r["text"] for r in rows],
            "prompt": prompts.spec("analyze.classify").text,
            # Retrieval (its method, examples and out-of-scope score) decides what the
            # model sees, so it is part of the key; older shortlist results are not reused.
            **(
                {
                    "method": "bm25-shortlist-v4",
                    "examples": [i.examples for i in taxonomy.intents],
                    "oos_score": oos_score,
                }
                if shortlist_k
                else {}
            ),
        },
    )
    shortlist = (LabelIndex(taxonomy.intents), shortlist_k) if shortlist_k else None
    results: list[dict[str, Any]] = []
    interrupted = False
    try:
        for i, row in enumerate(rows):
            item = cache.get(str(i))
            if item is None:
                out = asyncio.run(
                    classify_item(
                        row["text"],
                        small,
                        taxonomy,
                        prompts,
                        shortlist=shortlist,
                        oos_score=oos_score,
                        seed=seed,
                    )
                )
                item = {"id": i, "text": row["text"], "gold": row["label"], **out}
                cache.put(item)
            results.append(item)
            if on_item:
                on_item(i + 1, len(rows))
    except KeyboardInterrupt:
        interrupted = True
    return summarize(
        results,
        total=len(rows),
        interrupted=interrupted,
        cache=str(cache.path),
        small=small,
        shortlist_k=shortlist_k,
        **({"oos_score": oos_score} if oos_score is not None else {}),
    )


def summarize(
    results: list[dict[str, Any]], *, total: int, interrupted: bool = False, **extra: Any
) -> dict[str, Any]:
    gold = [r["gold"] for r in results]
    pred = [r["pred"] for r in results]
    ms = [r["ms"] for r in results]
    n = len(results) or 1
    oos = [r for r in results if r["gold"] == OUT_OF_SCOPE]
    report: dict[str, Any] = {
        **extra,
        "items": len(results),
        "of": total,
        "interrupted": interrupted,
        "accuracy": round(metrics.accuracy(gold, pred), 4),
        "macro_f1": round(metrics.macro_f1(gold, pred), 4),
        "valid_output_rate": round(sum(r["valid_first"] for r in results) / n, 4),
        "fallbacks": sum(r["fallback"] is not None for r in results),
        "small_tokens_in": sum(r["tokens_in"] for r in results),
        "small_tokens_out": sum(r["tokens_out"] for r in results),
        "latency_ms_p50": round(metrics.percentile(ms, 50), 1),
        "latency_ms_p95": round(metrics.percentile(ms, 95), 1),
        "worst_confusions": [
            {"gold": g, "predicted": p, "count": c} for g, p, c in metrics.confusions(gold, pred)
        ],
    }
    if oos:
        in_scope = [r for r in results if r["gold"] != OUT_OF_SCOPE]
        report["in_scope_accuracy"] = (
            round(metrics.accuracy([r["gold"] for r in in_scope], [r["pred"] for r in in_scope]), 4)
            if in_scope
            else None
        )
        report["oos_detection_rate"] = round(
            sum(r["pred"] == OUT_OF_SCOPE for r in oos) / len(oos), 4
        )
    return report
