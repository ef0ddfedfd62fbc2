"""The most a request may cost, estimated before any call (budgets and key limits hold it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..context import estimate_tokens
from ..messages import text_of
from ..providers import context_window, cost_of, output_limit

PROMPT_OVERHEAD_TOKENS = 400  # preLLM's own instructions around the user's text
RESERVE_OUTPUT_TOKENS = 4096  # answer tokens reserved without max_tokens (prellm.yaml can say)
SMALL_ANSWER_TOKENS = 400  # the small model's answer, at most


def request_tokens(
    large: str,
    query: str | None,
    kwargs: Mapping[str, Any],
    reserve_output_tokens: int = RESERVE_OUTPUT_TOKENS,
) -> tuple[int, int]:
    """(prompt, answer) tokens: the request's text (``query``, ``messages``,
    ``user_context``, tool definitions in ``kwargs``) at ~3.5 characters a token plus
    preLLM's overhead; the answer ``max_tokens`` (or ``max_completion_tokens``), else the
    large model's output limit capped by ``reserve_output_tokens``."""
    messages = kwargs.get("messages") or []
    text = (query or "") + " ".join(text_of(m.get("content")) for m in messages)
    text += str(kwargs.get("user_context") or "")
    # Tool definitions never reach the small model, but the large one reads them all.
    if kwargs.get("tools") or kwargs.get("functions"):
        text += json.dumps([kwargs.get("tools"), kwargs.get("functions")], default=str)
    prompt = estimate_tokens(text) + PROMPT_OVERHEAD_TOKENS
    asked = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens")
    limit = output_limit(large) or reserve_output_tokens
    return prompt, int(asked or min(limit, reserve_output_tokens))


def estimate_cost(
    small: str,
    large: str,
    query: str | None,
    kwargs: Mapping[str, Any],
    reserve_output_tokens: int = RESERVE_OUTPUT_TOKENS,
) -> float:
    """An upper estimate of a request's cost in USD (see ``request_tokens``); models
    without a known price count as free."""
    prompt, answer = request_tokens(large, query, kwargs, reserve_output_tokens)
    # No model reads more than its context: a huge paste is condensed to fit (or refused).
    large_cost = cost_of(large, min(prompt, context_window(large)), answer) or 0.0
    small_cost = cost_of(small, min(prompt, context_window(small)), SMALL_ANSWER_TOKENS) or 0.0
    return large_cost + small_cost
