"""Readiness: can the models a default request would use answer? Each check is bounded."""

from __future__ import annotations

import asyncio
from typing import Any

from .. import providers
from ..errors import PreLLMError
from .engines import EnginePool


async def check_models(pool: EnginePool, timeout: float) -> list[dict[str, Any]]:
    """One check per model the default engine resolves (prellm.yaml, environment, flags)."""
    try:
        small, large, _ = pool.default().models
    except PreLLMError as exc:
        return [{"model": None, "ok": False, "detail": str(exc)}]
    models = [small] if small == large else [small, large]
    results = await asyncio.gather(*[providers.check_model(m, timeout) for m in models])
    roles = ["small", "large"] if len(models) == 2 else ["small+large"]
    for r, role in zip(results, roles, strict=True):
        r["role"] = role
    return list(results)
