"""What every request of one engine shares: a frozen bundle, built once per engine.

Like pydantic-ai's ``GraphAgentDeps``: configuration, prompts, intents, the
resolved models and the stores. Stages read it and never change it; what a
request changes lives in its ``RequestState``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config.loader import Config
from ..config.prompts import PromptRegistry

if TYPE_CHECKING:
    from ..intents import LabelIndex
    from ..store import BudgetTracker, UserMemory
    from ..store.cache import StateCache


@dataclass(frozen=True)
class EngineDeps:
    config: Config
    strategy: str  # the engine's default strategy
    small: str
    large: str
    model_notices: tuple[str, ...]  # defaults taken while resolving the models
    small_kwargs: Mapping[str, Any]  # every small-model call
    llm_kwargs: Mapping[str, Any]  # every large-model call
    prompts: PromptRegistry
    intents: tuple[dict[str, str], ...]
    intent_shortlist: tuple[LabelIndex, int] | None
    sanitize: bool
    budget: BudgetTracker | None
    memory: UserMemory | None
    trace: bool
    trace_dir: str | None
    turns: StateCache | None = None  # composed user turns, for agent continuations
