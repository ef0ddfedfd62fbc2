"""preLLM: a small LLM turns a weak prompt into a good one; a large LLM answers it.

    from prellm import preprocess_and_execute_sync
    result = preprocess_and_execute_sync("Deploy app to prod", large_llm="gpt-4o-mini")
    print(result.content, result.decomposition.intent, result.cost_usd["total"])

Names are imported on first use, so ``import prellm`` stays fast and does not
load litellm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "preprocess_and_execute": "prellm.api",
    "preprocess_and_execute_sync": "prellm.api",
    "PreLLM": "prellm.engine",
    "PreLLMResult": "prellm.models",
    "Decomposition": "prellm.models",
    "Structure": "prellm.models",
    "StageEvent": "prellm.models",
    "StageRecord": "prellm.models",
    "SubAnswer": "prellm.models",
    "ToolCall": "prellm.models",
    "ToolCallDelta": "prellm.models",
    "PreLLMError": "prellm.errors",
    "ConfigError": "prellm.errors",
    "ProviderError": "prellm.errors",
    "ProviderTimeoutError": "prellm.errors",
    "ProviderAuthError": "prellm.errors",
    "RateLimitError": "prellm.errors",
    "BudgetExceededError": "prellm.errors",
    "ValidationError": "prellm.errors",
}

__all__ = [
    "BudgetExceededError",
    "ConfigError",
    "Decomposition",
    "PreLLM",
    "PreLLMError",
    "PreLLMResult",
    "ProviderAuthError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "StageEvent",
    "StageRecord",
    "Structure",
    "SubAnswer",
    "ToolCall",
    "ToolCallDelta",
    "ValidationError",
    "__version__",
    "preprocess_and_execute",
    "preprocess_and_execute_sync",
]

if TYPE_CHECKING:
    from .api import preprocess_and_execute, preprocess_and_execute_sync
    from .engine import PreLLM
    from .errors import (
        BudgetExceededError,
        ConfigError,
        PreLLMError,
        ProviderAuthError,
        ProviderError,
        ProviderTimeoutError,
        RateLimitError,
        ValidationError,
    )
    from .models import (
        Decomposition,
        PreLLMResult,
        StageEvent,
        StageRecord,
        Structure,
        SubAnswer,
        ToolCall,
        ToolCallDelta,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prellm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
