"""Bookkeeping around the engine's path: budget reservation and settling, memory, traces.

``guarded`` wraps ``PreLLM._execute``: it reserves the estimated cost before any
call, feeds the session's memory in, and afterwards settles the budget from the
stages that ran (even when the request failed), writes the trace and remembers
the exchange.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context.gather import join_context
from .messages import Conversation
from .models import PreLLMResult, StageEvent, StageRecord
from .observability.trace import Trace
from .safety import SensitiveDataFilter

if TYPE_CHECKING:
    from .engine import PreLLM

Event = str | StageEvent | PreLLMResult
log = logging.getLogger("prellm.engine")

PROMPT_OVERHEAD_TOKENS = 400  # preLLM's own instructions around the user's text
DEFAULT_ANSWER_TOKENS = 1024  # assumed answer length when max_tokens is not set


@dataclass
class RequestState:
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    stages: list[StageRecord] = field(default_factory=list)
    trace: Trace | None = None
    guard: SensitiveDataFilter | None = None
    memory_text: str | None = None


def estimate_cost(small: str, large: str, query: str | None, kwargs: dict[str, Any]) -> float:
    """An upper estimate of a request's cost, reserved against the budget before any call.

    Prompt: the request's text at ~3.5 characters a token plus preLLM's overhead; answer:
    ``max_tokens`` or 1,024. Models without a known price count as free.
    """
    from .context import estimate_tokens
    from .providers import cost_of

    text = (query or "") + " ".join(str(m.get("content", "")) for m in kwargs.get("messages") or [])
    text += str(kwargs.get("user_context") or "")
    prompt = estimate_tokens(text) + PROMPT_OVERHEAD_TOKENS
    answer = int(kwargs.get("max_tokens") or DEFAULT_ANSWER_TOKENS)
    large_cost = cost_of(large, prompt, answer) or 0.0
    small_cost = cost_of(small, prompt, 400) or 0.0
    return large_cost + small_cost


async def guarded(
    engine: PreLLM,
    query: str | None,
    *,
    stream: bool,
    trace: bool | None = None,
    session: str | None = None,
    user: str | None = None,
    budget_key: str | None = None,
    **kwargs: Any,
) -> AsyncIterator[Event]:
    state = RequestState()
    if user:
        kwargs["user"] = user  # OpenAI's end-user id goes on to the provider too
    if trace if trace is not None else engine.trace:
        state.trace = Trace()
    user = user or "default"
    if session and engine.memory:
        probe = Conversation.from_input(query, kwargs.get("messages")).query
        state.memory_text = engine.memory.context_text(user, session, probe)
        prefs = engine.memory.preferences(user)
        if prefs:
            kwargs["user_context"] = join_context(kwargs.get("user_context"), prefs)
    reservation = None
    if engine.budget and engine.budget.limits.any():
        small, large, _ = engine.models
        estimate = estimate_cost(small, large, query, kwargs)
        reservation = engine.budget.reserve([small, large], estimate, api_key=budget_key)
    try:
        async for event in engine._execute(query, stream=stream, state=state, **kwargs):
            if isinstance(event, PreLLMResult):
                log.info(
                    "request %s: %s -> %s, %s, %d+%d tokens, $%.6f, %.0f ms",
                    state.request_id,
                    event.requested_strategy,
                    event.strategy,
                    event.model_used,
                    event.usage["total"].prompt_tokens,
                    event.usage["total"].completion_tokens,
                    event.cost_usd["total"],
                    event.total_ms,
                )
                if state.trace:
                    event.trace_path = str(
                        state.trace.write(
                            event, Path(engine.trace_dir) if engine.trace_dir else None
                        )
                    )
                if session and engine.memory:
                    hide = state.guard.redact if state.guard else (lambda t: t)
                    d = event.decomposition
                    engine.memory.add(
                        user,
                        session,
                        hide(Conversation.from_input(query, kwargs.get("messages")).query),
                        intent=d.intent,
                        strategy=event.strategy,
                        summary=d.domain,
                        answer=hide(event.content),
                    )
            yield event
    finally:
        if engine.budget:
            engine.budget.settle(
                reservation,
                state.stages,
                request_id=state.request_id,
                api_key=budget_key,
                user=user,
            )
