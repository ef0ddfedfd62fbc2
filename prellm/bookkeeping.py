"""Per-request state shared between the engine's path and the bookkeeping around it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .models import StageRecord
from .observability.trace import Trace
from .safety import SensitiveDataFilter

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
