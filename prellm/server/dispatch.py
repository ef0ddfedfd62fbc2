"""From an endpoint's request to the engine: which engine, with which options.

Every endpoint (chat, Anthropic messages, responses) translates its body into
an OpenAI-style chat and lands here, so model choice, the allow-list, budget
keys, deadlines and preLLM's options work the same for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from ..engine import PreLLM
from ..request import RunOptions
from ..request.options import run_options
from .auth import principal_options
from .engines import EnginePool, resolve_pair
from .schemas import PrellmOptions
from .settings import ServerSettings

STRATEGY_HEADER = "x-prellm-strategy"


@dataclass
class Call:
    """An endpoint's request as a chat."""

    model: str
    messages: list[dict[str, Any]]
    llm_kwargs: dict[str, Any] = field(default_factory=dict)
    prellm: PrellmOptions = field(default_factory=PrellmOptions)
    user: str | None = None


def bearer(request: Request) -> str | None:
    """The caller's key: ``Authorization: Bearer`` (OpenAI) or ``x-api-key`` (Anthropic)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def dispatch(
    request: Request, settings: ServerSettings, pool: EnginePool, call: Call, *, with_keys: bool
) -> tuple[PreLLM, RunOptions]:
    p = call.prellm
    # IDE plugins that cannot send body fields choose with a header.
    strategy = request.headers.get(STRATEGY_HEADER) or p.strategy
    pair = resolve_pair(call.model, settings)
    engine = pool.get(pool.allowed(pair, call.model), strategy, p.domain)
    opts = run_options(
        **{
            "deadline_s": settings.upstream_timeout_s,
            # A field the upstream model cannot take is a 400 naming it, not dropped.
            "drop_params": False,
            **call.llm_kwargs,
            "messages": call.messages,
            "user_context": p.user_context,
            "sanitize": p.sanitize,
            "session": p.session,
            "response_schema": p.response_schema,
            "pipeline": p.pipeline,
            "files": [f.model_dump() for f in p.files] or None,
            "user": call.user,
            # The authenticated caller: spend, memory and limits are its (server/auth.py).
            **principal_options(request),
        }
    )
    return engine, opts
