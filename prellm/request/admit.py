"""Admit: the request is checked and its bookkeeping opened before anything is spent.

The conversation is validated, the sensitive-data filter and the trace are set
up, the session's memory is read, and the estimated cost is reserved against
the budget (``BudgetExceededError`` here means no model was called).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ..context import estimate_tokens
from ..context.gather import join_context
from ..messages import Conversation, text_of
from ..observability.trace import Trace
from ..providers import check_known, cost_of, output_limit
from ..safety import SensitiveDataFilter
from ..store.budget import key_label
from .deps import EngineDeps
from .limits import check_limits
from .options import RunOptions
from .state import RequestState

PROMPT_OVERHEAD_TOKENS = 400  # preLLM's own instructions around the user's text
RESERVE_OUTPUT_TOKENS = 4096  # answer tokens reserved without max_tokens (prellm.yaml can say)


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


def estimate_cost(
    small: str,
    large: str,
    query: str | None,
    kwargs: Mapping[str, Any],
    reserve_output_tokens: int = RESERVE_OUTPUT_TOKENS,
) -> float:
    """An upper estimate of a request's cost, reserved against the budget before any call.

    Prompt: the request's text (``query``, ``messages``, ``user_context`` in ``kwargs``)
    at ~3.5 characters a token plus preLLM's overhead; answer: ``max_tokens``
    (or ``max_completion_tokens``), else the large model's output limit capped by
    ``reserve_output_tokens``. Models without a known price count as free.
    """
    messages = kwargs.get("messages") or []
    text = (query or "") + " ".join(text_of(m.get("content")) for m in messages)
    text += str(kwargs.get("user_context") or "")
    # Tool definitions never reach the small model, but the large one reads them all.
    if kwargs.get("tools") or kwargs.get("functions"):
        text += json.dumps([kwargs.get("tools"), kwargs.get("functions")], default=str)
    prompt = estimate_tokens(text) + PROMPT_OVERHEAD_TOKENS
    asked = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens")
    limit = output_limit(large) or reserve_output_tokens
    answer = int(asked or min(limit, reserve_output_tokens))
    large_cost = cost_of(large, prompt, answer) or 0.0
    small_cost = cost_of(small, prompt, 400) or 0.0
    return large_cost + small_cost
