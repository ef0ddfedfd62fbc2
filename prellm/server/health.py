"""Readiness: can the configured models be reached? Each check is bounded by a short timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from ..config.settings import resolve_models
from ..errors import PreLLMError
from .settings import ServerSettings


async def _check(model: str, timeout: float) -> dict[str, Any]:
    if model.startswith("test/"):
        return {"model": model, "ok": True, "detail": "test provider"}
    if model.startswith("local/"):
        from ..providers.embedded import get_runtime

        try:
            # Loads the model on first use (seconds), then answers at once.
            await asyncio.wait_for(
                asyncio.to_thread(get_runtime, model.removeprefix("local/")),
                timeout=max(timeout, 60),
            )
        except (PreLLMError, TimeoutError) as exc:
            return {"model": model, "ok": False, "detail": str(exc) or "timed out loading"}
        return {"model": model, "ok": True, "detail": "embedded model loaded"}
    from .. import providers

    cause = await providers.ping(model, timeout)
    return {"model": model, "ok": cause is None, "detail": cause or "reachable"}


async def check_models(settings: ServerSettings) -> list[dict[str, Any]]:
    try:
        small, large, _ = resolve_models(settings.small, settings.large)
    except PreLLMError as exc:
        return [{"model": None, "ok": False, "detail": str(exc)}]
    models = [small] if small == large else [small, large]
    results = await asyncio.gather(*[_check(m, settings.readiness_timeout_s) for m in models])
    for r, role in zip(
        results, ["small", "large"] if len(models) == 2 else ["small+large"], strict=True
    ):
        r["role"] = role
    return list(results)
