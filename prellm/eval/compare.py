"""``prellm eval compare``: each strategy on the same tasks, scored by checks and a pairwise judge.

The judge sees the passthrough answer and the strategy's answer twice, in both
orders; a strategy wins a task only when the judge prefers it both times, loses
when it prefers passthrough both times, and ties otherwise (which cancels the
judge's position bias).

A prompt set can carry another system's rewrite of each prompt (BPO's
``optimized_prompt``): it is answered by the same large model, without
preprocessing, as one more contender, and every strategy is judged against it too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

from .. import providers
from ..engine import PreLLM
from ..errors import PreLLMError
from ..structured import extract_json
from .cache import ItemCache
from .data import Checks, Task
from .metrics import percentile

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        # The reason comes first: a small judge that has to compare before it picks
        # is less likely to pick by position (decoding follows the property order).
        "reason": {"type": "string", "maxLength": 300},
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
    },
    "required": ["reason", "winner"],
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
        max_tokens=200,
        response_format=rf,
    )
    try:
        verdict = extract_json(c.content).get("winner")
    except (ValueError, AttributeError):
        verdict = None
    return verdict if verdict in ("A", "B", "tie") else "tie"


def _answer(
    small: str,
    large: str,
    strategy: str,
    task: Task,
    key: str,
    kwargs: dict[str, Any],
    query: str | None = None,
) -> dict[str, Any]:
    """One strategy's answer to one task (an error is recorded, not raised).

    ``query`` replaces the task's prompt (another system's rewrite, sent as is).
    """
    item: dict[str, Any]
    started = time.perf_counter()
    try:
        r = PreLLM(small, large, strategy, budget=False).run(
            query or task.query, user_context=task.context, **kwargs
        )
        item = {
            "id": key,
            "answer": r.content,
            "tokens": r.usage["total"].total_tokens,
            "cost_usd": r.cost_usd["total"],
            "fallback": r.decomposition.fallback_reason,
            "ms": r.timings_ms,
            "error": None,
        }
    except PreLLMError as exc:
        item = {
            "id": key,
            "answer": "",
            "tokens": 0,
            "cost_usd": 0.0,
            "fallback": None,
            "ms": {},
            "error": str(exc),
        }
    item["seconds"] = round(time.perf_counter() - started, 2)
    passed, n, failures = score_checks(item["answer"], task.checks)
    item.update({"checks_passed": passed, "checks_total": n, "failures": failures})
    return item


def _verdict(judge_model: str, task: Task, base: str, answer: str, seed: int) -> tuple[str, str]:
    """Win, loss or tie against ``base``, judged twice with the positions swapped, and
    the judge's two picks (``"A/A"``: it chose by position, not by answer)."""
    one = asyncio.run(judge(judge_model, task, base, answer, seed))
    two = asyncio.run(judge(judge_model, task, answer, base, seed))
    picks = f"{one}/{two}"
    if (one, two) == ("B", "A"):
        return "win", picks
    if (one, two) == ("A", "B"):
        return "loss", picks
    return "tie", picks


_INVERSE = {"win": "loss", "loss": "win", "tie": "tie"}


def _tally(verdicts: list[str]) -> dict[str, Any]:
    return {
        "wins": verdicts.count("win"),
        "ties": verdicts.count("tie"),
        "losses": verdicts.count("loss"),
        "win_rate": round((verdicts.count("win") + 0.5 * verdicts.count("tie")) / len(verdicts), 4)
        if verdicts
        else None,
    }


def _seconds(items: list[dict[str, Any]]) -> dict[str, float | None]:
    """Wall time per answer (small stage + large model; the judge not counted)."""
    done = sorted(i["seconds"] for i in items if not i["error"] and "seconds" in i)
    small = [i["ms"].get("small", 0) / 1000 for i in items if not i["error"] and i.get("ms")]
    if not done:
        return {"seconds_p50": None, "seconds_mean": None, "small_seconds_mean": None}
    return {
        "seconds_p50": percentile(done, 50),
        "seconds_mean": round(sum(done) / len(done), 2),
        "small_seconds_mean": round(sum(small) / len(small), 2) if small else None,
    }


def _summary(items: list[dict[str, Any]], rewrite: str | None) -> dict[str, Any]:
    n = len(items) or 1
    checks_total = sum(i["checks_total"] for i in items)
    vs_base = _tally([i["verdict"] for i in items if i.get("verdict")])
    out = {
        "tasks": len(items),
        "check_pass_rate": round(sum(i["checks_passed"] for i in items) / checks_total, 4)
        if checks_total
        else None,
        "win_rate_vs_passthrough": vs_base["win_rate"],
        "wins": vs_base["wins"],
        "ties": vs_base["ties"],
        "losses": vs_base["losses"],
        "errors": sum(bool(i["error"]) for i in items),
        "tokens_per_task": round(sum(i["tokens"] for i in items) / n, 1),
        "cost_usd": round(sum(i["cost_usd"] or 0 for i in items), 6),
        **_seconds(items),
        # Judged pairs where the judge picked the same position both times (its bias).
        "judge_position_picks": sum(
            p in ("A/A", "B/B") for i in items for p in (i.get("judge_picks") or {}).values()
        ),
    }
    if rewrite:
        out[f"vs_{rewrite}"] = _tally(
            [i["verdict_rewrite"] for i in items if i.get("verdict_rewrite")]
        )
    return out


def _judged(
    item: dict[str, Any],
    strategy: str,
    task: Task,
    answers: dict[str, str],
    judge_model: str,
    rewrite: str | None,
    seed: int,
) -> None:
    """Add the item's verdicts: against passthrough, and against the rewrite when there is one.

    The rewrite's answer reused from passthrough (the same prompt) ties with it, and
    the verdict against it is the verdict against passthrough: the judge is not asked twice.
    """
    if item["error"] or strategy == "passthrough":
        return
    if item.get("reused") == "passthrough":
        item["verdict"] = "tie"
        return
    picks: dict[str, str] = {}
    if answers.get("passthrough"):
        item["verdict"], picks["passthrough"] = _verdict(
            judge_model, task, answers["passthrough"], item["answer"], seed
        )
    if rewrite and strategy != rewrite and answers.get(rewrite):
        if answers[rewrite] == answers.get("passthrough") and "verdict" in item:
            item["verdict_rewrite"], picks[rewrite] = item["verdict"], picks["passthrough"]
        else:
            item["verdict_rewrite"], picks[rewrite] = _verdict(
                judge_model, task, answers[rewrite], item["answer"], seed
            )
    item["judge_picks"] = picks


def _inverse_for_passthrough(rows: dict[str, list[dict[str, Any]]], rewrite: str) -> None:
    """Passthrough against the rewrite is the rewrite's verdict against passthrough, inverted."""
    for base, other in zip(rows["passthrough"], rows[rewrite], strict=False):
        if other.get("verdict"):
            base["verdict_rewrite"] = _INVERSE[other["verdict"]]


def _new_item(
    name: str, task: Task, earlier: dict[str, dict[str, Any]], ctx: tuple[Any, ...]
) -> dict[str, Any]:
    """A contender's answer to a task, judged against the answers ``earlier`` in this task.

    A rewrite identical to the prompt is the passthrough request again: its answer is
    passthrough's, not a second generation.
    """
    small, large, kwargs, judge_model, rewrite, seed = ctx
    key = f"{task.id}:{name}"
    if name == rewrite and task.rewrite == task.query and "passthrough" in earlier:
        item = {**earlier["passthrough"], "id": key, "reused": "passthrough"}
    else:
        strategy, query = ("passthrough", task.rewrite) if name == rewrite else (name, None)
        item = _answer(small, large, strategy, task, key, kwargs, query)
    item.pop("verdict", None)
    item.pop("verdict_rewrite", None)
    if judge_model:
        answers = {n: i["answer"] for n, i in earlier.items()}
        _judged(item, name, task, answers, judge_model, rewrite, seed)
    return item


def _contenders(strategies: list[str], rewrite: str | None) -> list[str]:
    """Passthrough first, then the rewrite (both are what the others are judged against)."""
    rest = [s for s in strategies if s not in ("passthrough", rewrite)]
    return ["passthrough", *([rewrite] if rewrite else []), *rest]


def _prompts_digest() -> str:
    """The shipped prompts' fingerprint: a prompt edit must not reuse cached answers."""
    from ..config.prompts import PromptRegistry

    prompts = PromptRegistry.default().prompts
    blob = json.dumps({k: v.model_dump() for k, v in sorted(prompts.items())}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_compare(
    tasks: list[Task],
    small: str,
    large: str,
    strategies: list[str],
    *,
    judge_model: str | None = None,
    seed: int = 0,
    max_tokens: int | None = None,
    rewrite: str | None = None,
    on_item: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Each strategy (and ``rewrite``: the tasks' own rewritten prompts, answered by the
    same large model without preprocessing) on every task, judged against passthrough
    and against the rewrite."""
    rewrite = rewrite if rewrite and all(t.rewrite for t in tasks) else None
    names = _contenders(strategies, rewrite)
    cache = ItemCache(
        "compare",
        {
            "small": small,
            "large": large,
            "judge": judge_model,
            "seed": seed,
            "max_tokens": max_tokens,
            "prompts": _prompts_digest(),
            "tasks": [t.model_dump() for t in tasks],
        },
    )
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in names}
    total, done, interrupted = len(tasks) * len(names), 0, False
    kwargs = {
        "temperature": 0,
        "seed": seed,
        "cache": False,
        **({"max_tokens": max_tokens} if max_tokens else {}),
    }
    try:
        for task in tasks:
            done_here: dict[str, dict[str, Any]] = {}
            for name in names:
                item = cache.get(f"{task.id}:{name}")
                if item is None:
                    ctx = (small, large, kwargs, judge_model, rewrite, seed)
                    item = _new_item(name, task, done_here, ctx)
                    cache.put(item)
                done_here[name] = item
                rows[name].append(item)
                done += 1
                if on_item:
                    on_item(done, total)
    except KeyboardInterrupt:
        interrupted = True
    if rewrite:
        _inverse_for_passthrough(rows, rewrite)
    return {
        "small": small,
        "large": large,
        "judge": judge_model,
        "seed": seed,
        "max_tokens": max_tokens,
        "rewrite": rewrite,
        "interrupted": interrupted,
        "cache": str(cache.path),
        "strategies": {name: _summary(items, rewrite) for name, items in rows.items()},
        "items": rows,
    }
