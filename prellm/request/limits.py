"""Limits: what a virtual key (and its team) may do, checked in ``admit`` before any call.

The request's large model must match the key's and the team's model patterns
(403 ``model_not_allowed``); then the key's and team's budgets (402
``budget_exceeded``) and requests/tokens per minute (429 with ``Retry-After``)
are checked and the request held against them in one transaction of the state
store (``BudgetTracker.admit_principal``). The hold replaces the global budget
reservation ``admit`` made just before; a refusal releases that one too. A store
that cannot be reached refuses a limited key (503): limits fail closed.
"""

from __future__ import annotations

from typing import Any

from ..store import BudgetTracker
from ..store.errors import ModelNotAllowedError
from .deps import EngineDeps
from .estimate import (
    RESERVE_OUTPUT_TOKENS,
    SMALL_ANSWER_TOKENS,
    estimate_cost,
    request_tokens,
)
from .state import RequestState


def check_limits(deps: EngineDeps, state: RequestState) -> None:
    """Refuse (403/402/429/503) or hold the request against its key's and team's limits."""
    p = state.opts.principal
    if p is None or p.kind != "virtual":
        return
    tracker = deps.budget or BudgetTracker.shared()
    if why := p.refused_model(deps.large):
        tracker.release(state.reservation)
        state.reservation = None
        raise ModelNotAllowedError(f"model {deps.large!r} is not allowed: {why}")
    if state.trace:
        state.trace.step("caller", key_id=p.key_id, key=p.name, team_id=p.team_id, team=p.team_name)
    usd, tokens = estimate(deps, state) if p.limited() else (0.0, 0)
    state.reservation = tracker.admit_principal(
        p, [deps.small, deps.large], usd, tokens, reservation=state.reservation
    )


def estimate(deps: EngineDeps, state: RequestState) -> tuple[float, int]:
    """(USD, tokens) the request may use at most: admit's estimate, both models."""
    request = {
        **deps.llm_kwargs,
        **state.opts.llm_kwargs,
        "messages": state.conv.messages,
        "user_context": state.user_context,
    }
    budget = deps.config.file.budget
    reserve = (budget.reserve_output_tokens if budget else None) or RESERVE_OUTPUT_TOKENS
    prompt, answer = request_tokens(deps.large, None, request, reserve)
    usd = estimate_cost(deps.small, deps.large, None, request, reserve)
    return usd, prompt * 2 + answer + SMALL_ANSWER_TOKENS


def check_call(
    tracker: BudgetTracker | None,
    principal: Any,
    model: str,
    estimate_usd: float,
    tokens: int,
    reservation: str | None = None,
) -> Any:
    """The same checks for an endpoint outside the request path (``/v1/completions``,
    ``/v1/embeddings``): refuses (403/402/429/503) or returns the reservation to settle
    (``reservation`` taken over when given, released when this refuses)."""
    if principal is None or principal.kind != "virtual":
        return reservation
    tracker = tracker or BudgetTracker.shared()
    if why := principal.refused_model(model):
        tracker.release(reservation)
        raise ModelNotAllowedError(f"model {model!r} is not allowed: {why}")
    return tracker.admit_principal(
        principal, [model], estimate_usd, tokens, reservation=reservation
    )
