"""Admit: the request is checked and its bookkeeping opened before anything is spent.

The conversation is validated, the sensitive-data filter and the trace are set
up, the session's memory is read, and the estimated cost is reserved against
the budget (``BudgetExceededError`` here means no model was called).
"""

from __future__ import annotations

import time

from ..context.gather import join_context
from ..messages import Conversation
from ..observability.trace import Trace
from ..providers import check_known
from ..safety import SensitiveDataFilter
from ..store.budget import key_label
from .deps import EngineDeps
from .estimate import PROMPT_OVERHEAD_TOKENS, RESERVE_OUTPUT_TOKENS, estimate_cost
from .limits import check_limits
from .options import RunOptions
from .state import RequestState

__all__ = ["PROMPT_OVERHEAD_TOKENS", "RESERVE_OUTPUT_TOKENS", "admit", "estimate_cost"]


def admit(deps: EngineDeps, query: str | None, opts: RunOptions) -> RequestState:
    state = RequestState(opts=opts, conv=Conversation.from_input(query, opts.messages))
    check_known(deps.small)
    check_known(deps.large)
    # A broken ledger or memory file fails here, before any model is called.
    if deps.budget:
        deps.budget.schema_version  # noqa: B018 - opens (and checks) the database
    if opts.session and deps.memory:
        deps.memory.schema_version  # noqa: B018
    sanitize = deps.sanitize if opts.sanitize is None else opts.sanitize
    if sanitize:
        state.guard = SensitiveDataFilter(deps.config.sensitive_rules)
    if opts.trace if opts.trace is not None else deps.trace:
        state.trace = Trace()
        if state.guard:
            state.trace.hide = state.guard.redact
    if opts.deadline_s is not None:
        state.deadline = time.monotonic() + opts.deadline_s
    # Memory belongs to the caller: with an API key, to that key's users only.
    owner = key_label(opts.budget_key)
    state.user = f"{owner}:{opts.user or 'default'}" if owner else opts.user or "default"
    state.user_context = opts.user_context
    if opts.session and deps.memory:
        state.memory_text = deps.memory.context_text(state.user, opts.session, state.conv.query)
        if prefs := deps.memory.preferences(state.user):
            state.user_context = join_context(opts.user_context, prefs)
    if deps.budget and deps.budget.limits.any():
        request = {
            **opts.llm_kwargs,
            "messages": state.conv.messages,
            "user_context": state.user_context,
        }
        reserve = deps.config.file.budget.reserve_output_tokens if deps.config.file.budget else None
        estimate = estimate_cost(
            deps.small, deps.large, None, request, reserve or RESERVE_OUTPUT_TOKENS
        )
        state.reservation = deps.budget.reserve(
            [deps.small, deps.large], estimate, api_key=opts.budget_key
        )
    check_limits(deps, state)  # a virtual key's models, budgets and rates (request/limits.py)
    return state
