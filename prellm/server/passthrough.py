"""``POST /v1/completions`` and ``POST /v1/embeddings``: straight to the model through
litellm, behind the same auth, allow-list, budget, deadline and sensitive-data filter
as chat; no preprocessing."""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .. import providers
from ..models import StageRecord
from ..request.limits import check_call
from ..safety import SensitiveDataFilter
from .engines import EnginePool, resolve_pair
from .settings import ServerSettings

Text = str | list[str]
Input = str | Annotated[list[str], Field(min_length=1, max_length=2048)]


class CompletionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=512)
    prompt: Input
    max_tokens: int | None = Field(None, gt=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(None, ge=1, le=128)
    stop: Text | None = None
    seed: int | None = None
    echo: bool | None = None
    logprobs: int | None = Field(None, ge=0, le=5)
    suffix: str | None = None
    user: str | None = None


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=512)
    input: Input
    dimensions: int | None = Field(None, gt=0)
    encoding_format: str | None = None
    user: str | None = None


async def run(
    kind: str,
    req: CompletionsRequest | EmbeddingsRequest,
    settings: ServerSettings,
    pool: EnginePool,
    key: str | None,
    principal: Any = None,
) -> dict[str, Any]:
    pair = pool.allowed(resolve_pair(req.model, settings), req.model)
    engine = pool.default() if pair.large is None else pool.get(pair)
    model = engine.models[1]
    providers.check_known(model)
    guard = SensitiveDataFilter(engine.config.sensitive_rules) if engine.sanitize else None
    params = req.model_dump(exclude_none=True, exclude={"model"})
    field = "prompt" if kind == "text" else "input"
    if guard:
        value = params[field]
        params[field] = (
            guard.redact(value) if isinstance(value, str) else [guard.redact(v) for v in value]
        )
    budget, reservation = engine.budget, None
    prompt_tokens = len(str(params[field])) // 3 + 1
    answer_tokens = int(params.get("max_tokens") or 256) if kind == "text" else 0
    estimate = providers.cost_of(model, prompt_tokens, answer_tokens) or 0.0
    if budget and budget.limits.any():
        reservation = budget.reserve([model], estimate, api_key=key)
    # A virtual key's model patterns, budgets and rates hold here too.
    tokens = prompt_tokens + answer_tokens
    reservation = check_call(budget, principal, model, estimate, tokens, reservation)
    stages: list[StageRecord] = []
    t0 = time.perf_counter()
    try:
        body = await providers.araw(
            kind, model, deadline=time.monotonic() + settings.upstream_timeout_s, **params
        )
        usage = body.get("usage") or {}
        cost = body.pop("_cost_usd", None)
        stages.append(
            StageRecord(
                stage="large",
                model=model,
                role="large",
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                cost_usd=cost,
                ms=(time.perf_counter() - t0) * 1000,
            )
        )
    finally:
        if budget:
            budget.settle(reservation, stages, api_key=key)
    if guard and kind == "text":
        for choice in body.get("choices") or []:
            if isinstance(choice.get("text"), str):
                choice["text"] = guard.restore(choice["text"])
    body["model"] = req.model
    return body
