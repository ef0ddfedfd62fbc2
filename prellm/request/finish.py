"""Finish: the ``PreLLMResult``, then the books: the trace, memory and the budget.

``result`` builds what the caller gets; ``record`` writes the trace and the
session's memory for a finished request; ``settle`` runs for every admitted
request, finished or failed, and settles the budget from the calls that ran.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..models import PreLLMResult, SubAnswer, ToolCall
from ..observability.logging import get_logger
from .deps import EngineDeps
from .state import RequestState

log = get_logger("prellm.engine")


def result(deps: EngineDeps, state: RequestState, clarification: str | None = None) -> PreLLMResult:
    guard, answer = state.guard, state.answer
    restore = guard.restore if guard else (lambda text: text)
    sub_answers = [
        SubAnswer(query=restore(s.query), answer=restore(s.answer)) for s in state.sub_answers
    ]
    small_ran = any(s.role == "small" for s in state.stages)
    return PreLLMResult(
        content=clarification if clarification is not None else (answer.content if answer else ""),
        model_used=deps.large,
        small_model_used=deps.small if small_ran else None,
        strategy=state.strategy.name,
        requested_strategy=state.requested,
        decomposition=state.decomposition,
        sub_answers=sub_answers,
        stages=state.stages,
        notices=state.notices,
        redactions=guard.report if guard else {},
        parsed=answer.parsed if answer else None,
        tool_calls=[ToolCall.model_validate(c) for c in answer.tool_calls] if answer else [],
        choices=answer.choices if answer else [],
        turn="continuation" if state.conv.continuation else "new",
        pipeline=state.pipeline,
        pipeline_steps=state.run.steps if state.run else [],
        needs_clarification=clarification is not None,
        cache=state.cache,
        condensed=state.condensed,
        finish_reason="clarification" if clarification is not None else _finish_reason(state),
        total_ms=(time.perf_counter() - state.t0) * 1000,
    )


def _finish_reason(state: RequestState) -> str | None:
    return state.answer.completion.finish_reason if state.answer else None


def record(deps: EngineDeps, state: RequestState, done: PreLLMResult) -> None:
    """Log the request, write its trace, remember the exchange in the session."""
    total = done.usage["total"]
    log.info(
        "request %s: %s -> %s, %s, %d+%d tokens, $%.6f, %.0f ms",
        state.request_id,
        done.requested_strategy,
        done.strategy,
        done.model_used,
        total.prompt_tokens,
        total.completion_tokens,
        done.cost_usd["total"],
        done.total_ms,
    )
    if state.trace:
        where = Path(deps.trace_dir) if deps.trace_dir else None
        done.trace_path = str(state.trace.write(done, where))
    session = state.opts.session
    if session and deps.memory:
        d = done.decomposition
        deps.memory.add(
            state.user,
            session,
            state.hide(state.conv.query),
            intent=d.intent,
            strategy=done.strategy,
            summary=d.domain,
            answer=state.hide(done.content),
        )


def settle(deps: EngineDeps, state: RequestState) -> None:
    """Settle the budget from the calls that ran, whether the request finished or failed."""
    if deps.budget:
        deps.budget.settle(
            state.reservation,
            state.stages,
            request_id=state.request_id,
            api_key=state.opts.budget_key,
            user=state.user,
        )
