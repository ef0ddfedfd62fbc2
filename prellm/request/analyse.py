"""Analyse: the small model reads the request (a strategy's analysis, or a pipeline).

Either way the outcome is a decomposition and the strategy to compose with, or a
recorded fallback to passthrough (the small model unreachable or its output
invalid after one repair): the request is never lost to a failed analysis.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from .. import providers
from ..config.prompts import PromptRegistry
from ..context.gather import join_history
from ..models import Decomposition, StageEvent, StageRecord
from ..pipelines.run import Run
from ..pipelines.runner import run_pipeline
from ..strategies import Strategy, get_strategy
from ..strategies.base import to_decomposition
from ..structured import analysis_call, ask_json
from . import cache
from .deps import EngineDeps
from .state import RequestState


@dataclass
class Analysis:
    decomposition: Decomposition | None
    strategy: str  # the strategy to compose the large model's prompt with
    fallback_reason: str | None
    stages: list[StageRecord]
    attempts: list[dict[str, Any]] = field(default_factory=list)  # sent and received, for traces
    run: Run | None = None  # the pipeline's run, when a pipeline did the work


async def analyse(deps: EngineDeps, state: RequestState) -> AsyncGenerator[StageEvent, None]:
    if not (state.pipeline or state.strategy.prompt is not None):
        return  # passthrough: no small call
    small, intents = deps.small, _intents(deps, state)
    probe = cache.lookup(deps, state, intents)
    if probe.found is not None:
        yield _from_cache(state, probe, small)
        return
    what = {"pipeline": state.pipeline} if state.pipeline else {"strategy": state.strategy.name}
    yield StageEvent(stage="small", status="start", model=small, detail=what)
    run = _pipeline if state.pipeline else _strategy
    result = await run(deps, state, intents)
    state.account(result.stages)
    for attempt in result.attempts:
        state.step("small model", **attempt)
    if result.run is not None:
        _adopt_run(state, result.run)
    if result.decomposition is None or result.fallback_reason:
        state.decomposition.fallback_reason = result.fallback_reason
        state.notices.append(
            f"preprocessing skipped, query sent unchanged: {result.fallback_reason}"
        )
        state.strategy = get_strategy("passthrough")
        detail: dict[str, Any] = {"reason": result.fallback_reason}
        yield StageEvent(stage="small", status="fallback", model=small, detail=detail)
        return
    cache.store(deps, probe, result.decomposition, result.strategy)
    state.decomposition, state.strategy = result.decomposition, get_strategy(result.strategy)
    detail = {"strategy": state.strategy.name, "intent": result.decomposition.intent}
    detail["pipeline"] = state.pipeline
    if result.stages:
        detail["ms"] = round(sum(s.ms for s in result.stages))
    detail["cache"] = state.cache
    yield StageEvent(stage="small", status="done", model=small, detail=detail)


def _from_cache(state: RequestState, probe: cache.Probe, small: str) -> StageEvent:
    """A cached analysis adopted: no small-model call."""
    state.decomposition, picked = cache.cached_decomposition(probe)
    state.strategy = get_strategy(picked)
    if state.pipeline:
        state.requested = f"pipeline:{state.pipeline}"
    detail = {"strategy": picked, "intent": state.decomposition.intent, "cache": "hit"}
    detail["pipeline"] = state.pipeline
    return StageEvent(stage="small", status="done", model=small, detail=detail)


def _adopt_run(state: RequestState, run: Run) -> None:
    state.run = run
    state.requested = f"pipeline:{state.pipeline}"
    state.step(
        "pipeline",
        pipeline=state.pipeline,
        steps=[s.model_dump(mode="json") for s in run.steps],
    )
    if (project := run.variables.get("project")) and not run.fallback_reason:
        state.context_text = "\n".join(filter(None, [state.context_text, f"Project:\n{project}"]))


def _hide(deps: EngineDeps, state: RequestState) -> Any:
    # A local small model may see the raw text; a remote one gets it redacted.
    if state.guard and not providers.is_free(deps.small):
        return state.guard.redact
    return lambda text: text


def _intents(deps: EngineDeps, state: RequestState) -> list[dict[str, str]]:
    if deps.intent_shortlist:
        index, k = deps.intent_shortlist
        return index.shortlist(state.conv.query, k)
    return list(deps.intents)


async def _strategy(
    deps: EngineDeps, state: RequestState, intents: list[dict[str, str]]
) -> Analysis:
    hide, strategy = _hide(deps, state), state.strategy
    history = join_history(state.conv.history_text(), state.memory_text, strategy.name)
    outcome = await strategy_analysis(
        strategy,
        deps.small,
        prompts=deps.prompts,
        intents=intents,
        query=hide(state.conv.query),
        history=hide(history),
        user_context=hide(context) if (context := state.analysis_context()) else None,
        small_kwargs={**deps.small_kwargs, **state.opts.small_kwargs},
        deadline=state.deadline,
    )
    # auto's analysis names the strategy to compose with; the others compose as themselves.
    picked = strategy.name
    if strategy.name == "auto" and outcome.data:
        picked = outcome.data.get("strategy", strategy.name)
    return Analysis(
        outcome.decomposition, picked, outcome.fallback_reason, outcome.stages, outcome.attempts
    )


async def _pipeline(
    deps: EngineDeps, state: RequestState, intents: list[dict[str, str]]
) -> Analysis:
    assert state.pipeline is not None
    variables = {
        "query": state.conv.query,
        "history": join_history(state.conv.history_text(), state.memory_text, "enrich"),
        "user_context": state.analysis_context(),
        "intents": intents,
        "codebase": state.opts.codebase_path,
    }
    run = await run_pipeline(
        state.pipeline,
        deps.config.pipelines,
        Run(variables, deps.config.rules, state.guard),
        small=deps.small,
        prompts=deps.prompts,
        intents=intents,
        schemas=deps.config.schemas,
        small_kwargs={**deps.small_kwargs, **state.opts.small_kwargs},
        hide=_hide(deps, state),
        deadline=state.deadline,
    )
    return Analysis(
        run.decomposition, run.strategy, run.fallback_reason, run.stages, run.attempts, run
    )


@dataclass
class StrategyOutcome:
    decomposition: Decomposition | None
    data: dict[str, Any] | None
    fallback_reason: str | None
    stages: list[StageRecord]
    attempts: list[dict[str, Any]]


async def strategy_analysis(
    strategy: Strategy,
    small_model: str,
    *,
    prompts: PromptRegistry,
    intents: list[dict[str, str]],
    query: str,
    history: str,
    user_context: str | None,
    small_kwargs: dict[str, Any],
    deadline: float | None = None,
) -> StrategyOutcome:
    """One strategy's analysis of a request: its prompt, its schema, one repair."""
    assert strategy.prompt is not None
    variables = {
        "query": query,
        "history": history,
        "user_context": user_context,
        "intents": intents,
    }
    messages, params = analysis_call(prompts, strategy.prompt, variables, small_kwargs)
    out = await ask_json(
        small_model,
        messages,
        strategy.analysis_model(tuple(i["name"] for i in intents)),
        schema_name=f"{strategy.name}_analysis",
        prompts=prompts,
        params=params,
        stage="small",
        role="small",
        deadline=deadline,
    )
    return StrategyOutcome(
        to_decomposition(out.data) if out.data is not None else None,
        out.data,
        _fallback_reason(out.failure.cause if out.failure else None, out.error, out.data),
        out.stages,
        out.attempts,
    )


def _fallback_reason(unavailable: str | None, error: str, data: Any) -> str | None:
    if unavailable is not None:
        return f"small model unavailable: {unavailable}"
    if data is None:
        return f"small model output invalid after one repair: {error}"
    return None
