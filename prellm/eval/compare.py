"""``prellm eval compare``: each strategy on the same tasks, scored by checks and a pairwise judge.

The judge sees the passthrough answer and the strategy's answer twice, in both
orders; a strategy wins a task only when the judge prefers it both times, loses
when it prefers passthrough both times, and ties otherwise (which cancels the
judge's position bias).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from .. import providers
from ..engine import PreLLM
from ..errors import PreLLMError
from ..structured import extract_json
from .cache import ItemCache
from .data import Checks, Task

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
        "reason": {"type": "string", "maxLength": 200},
    },
    "required": ["winner", "reason"],
    "additionalProperties": False,
}


def score_checks(answer: str, checks: Checks) -> tuple[int, int, list[str]]:
    """(passed, total, failures) for one answer."""
    failures = []
    total = len(checks.contains) + len(checks.regex) + (1 if checks.json_schema else 0)
    for s in checks.contains:
        if s.lower() not in answer.lower():
            failures.append(f"missing {s!r}")
    for pattern in checks.regex:
        if not re.search(pattern, answer, re.I | re.M):
            failures.append(f"no match for /{pattern}/")
    if checks.json_schema:
        import jsonschema

        try:
            jsonschema.validate(extract_json(answer), checks.json_schema)
        except (ValueError, jsonschema.ValidationError) as exc:
            failures.append(f"JSON schema: {str(exc).splitlines()[0][:120]}")
    return total - len(failures), total, failures


async def judge(judge_model: str, task: Task, first: str, second: str, seed: int) -> str:
    """'A', 'B' or 'tie' for answers shown as A (first) and B (second)."""
    from ..config.prompts import PromptRegistry

    prompts = PromptRegistry.default()
    text = prompts.render("eval.judge", query=task.query, context=task.context, a=first, b=second)
    rf = providers.json_response_format(judge_model, "verdict", JUDGE_SCHEMA)
    c = await providers.acomplete(
        judge_model,
        [{"role": "user", "content": text}],
        temperature=0,
        seed=seed,
        max_tokens=120,
        response_format=rf,
    )
    try:
        verdict = extract_json(c.content).get("winner")
    except (ValueError, AttributeError):
        verdict = None
    return verdict if verdict in ("A", "B", "tie") else "tie"


def _answer(
    small: str, large: str, strategy: str, task: Task, key: str, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """One strategy's answer to one task (an error is recorded, not raised)."""
    item: dict[str, Any]
    try:
        r = PreLLM(small, large, strategy, budget=False).run(
            task.query, user_context=task.context, **kwargs
        )
        item = {
            "id": key,
            "answer": r.content,
            "tokens": r.usage["total"].total_tokens,
            "cost_usd": r.cost_usd["total"],
            "fallback": r.decomposition.fallback_reason,
            "error": None,
        }
    except PreLLMError as exc:
        item = {
            "id": key,
            "answer": "",
            "tokens": 0,
            "cost_usd": 0.0,
            "fallback": None,
            "error": str(exc),
        }
    passed, n, failures = score_checks(item["answer"], task.checks)
    item.update({"checks_passed": passed, "checks_total": n, "failures": failures})
    return item


def _verdict(judge_model: str, task: Task, base: str, answer: str, seed: int) -> str:
    """Win, loss or tie against ``base``, judged twice with the positions swapped."""
    one = asyncio.run(judge(judge_model, task, base, answer, seed))
    two = asyncio.run(judge(judge_model, task, answer, base, seed))
    if (one, two) == ("B", "A"):
        return "win"
    if (one, two) == ("A", "B"):
        return "loss"
    return "tie"


def _summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(items) or 1
    checks_total = sum(i["checks_total"] for i in items)
    verdicts = [i.get("verdict") for i in items if i.get("verdict")]
    return {
        "tasks": len(items),
        "check_pass_rate": round(sum(i["checks_passed"] for i in items) / checks_total, 4)
        if checks_total
        else None,
        "win_rate_vs_passthrough": round(
            (verdicts.count("win") + 0.5 * verdicts.count("tie")) / len(verdicts), 4
        )
        if verdicts
        else None,
        "wins": verdicts.count("win"),
        "ties": verdicts.count("tie"),
        "losses": verdicts.count("loss"),
        "errors": sum(bool(i["error"]) for i in items),
        "tokens_per_task": round(sum(i["tokens"] for i in items) / n, 1),
        "cost_usd": round(sum(i["cost_usd"] or 0 for i in items), 6),
    }


def run_compare(
    tasks: list[Task],
    small: str,
    large: str,
    strategies: list[str],
    *,
    judge_model: str | None = None,
    seed: int = 0,
    max_tokens: int | None = None,
    on_item: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    if "passthrough" not in strategies:
        strategies = ["passthrough", *strategies]
    cache = ItemCache(
        "compare",
        {
            "small": small,
            "large": large,
            "judge": judge_model,
            "seed": seed,
            "max_tokens": max_tokens,
            "tasks": [t.model_dump() for t in tasks],
        },
    )
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in strategies}
    total, done, interrupted = len(tasks) * len(strategies), 0, False
    kwargs = {"temperature": 0, "seed": seed, **({"max_tokens": max_tokens} if max_tokens else {})}
    try:
        for task in tasks:
            answers: dict[str, str] = {}
            for strategy in strategies:
                key = f"{task.id}:{strategy}"
                item = cache.get(key)
                if item is None:
                    item = _answer(small, large, strategy, task, key, kwargs)
                    if judge_model and strategy != "passthrough" and not item["error"]:
                        base = answers.get("passthrough") or (
                            cache.get(f"{task.id}:passthrough") or {}
                        ).get("answer", "")
                        item["verdict"] = _verdict(judge_model, task, base, item["answer"], seed)
                    cache.put(item)
                answers[strategy] = item["answer"]
                rows[strategy].append(item)
                done += 1
                if on_item:
                    on_item(done, total)
    except KeyboardInterrupt:
        interrupted = True
    return {
        "small": small,
        "large": large,
        "judge": judge_model,
        "interrupted": interrupted,
        "cache": str(cache.path),
        "strategies": {strategy: _summary(items) for strategy, items in rows.items()},
        "items": {s: items for s, items in rows.items()},
    }
