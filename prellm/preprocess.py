"""The small-model stage of a request: a configured pipeline of steps, or one strategy's analysis.

Either way the outcome is the same shape: a decomposition (or a fallback reason),
the strategy to compose with, and the calls made, for the result and the trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import providers
from .analysis import analyse
from .context.gather import join_history
from .messages import Conversation
from .models import Decomposition, StageRecord
from .pipelines.runner import Run, run_pipeline
from .safety import SensitiveDataFilter
from .strategies import Strategy

if TYPE_CHECKING:
    from .engine import PreLLM


@dataclass
class Preprocessed:
    decomposition: Decomposition | None
    strategy: str  # the strategy to compose the large model's prompt with
    fallback_reason: str | None
    stages: list[StageRecord]
    attempts: list[dict[str, Any]] = field(default_factory=list)  # sent and received, for traces
    run: Run | None = None  # the pipeline's run, when a pipeline did the work


def _same(text: str) -> str:
    return text


async def preprocess(
    engine: PreLLM,
    chosen: Strategy,
    pipeline: str | None,
    *,
    small: str,
    conv: Conversation,
    memory_text: str | None,
    context_text: str | None,
    guard: SensitiveDataFilter | None,
    small_kwargs: dict[str, Any] | None,
    codebase_path: str | None,
) -> Preprocessed:
    # A local small model may see the raw text; a remote one gets it redacted.
    hide = guard.redact if guard and not providers.is_free(small) else _same
    kwargs = {**engine.small_kwargs, **(small_kwargs or {})}
    intents = engine.intents
    if engine.intent_shortlist:
        index, k = engine.intent_shortlist
        intents = index.shortlist(conv.query, k)
    if pipeline:
        run = await run_pipeline(
            pipeline,
            engine.config.pipelines,
            Run(
                {
                    "query": conv.query,
                    "history": join_history(conv.history_text(), memory_text, "enrich"),
                    "user_context": context_text,
                    "intents": intents,
                    "codebase": codebase_path,
                },
                engine.config.rules,
                guard,
            ),
            small=small,
            prompts=engine.prompts,
            intents=intents,
            schemas=engine.config.schemas,
            small_kwargs=kwargs,
            hide=hide,
        )
        return Preprocessed(
            run.decomposition, run.strategy, run.fallback_reason, run.stages, run.attempts, run
        )
    outcome = await analyse(
        chosen,
        small,
        prompts=engine.prompts,
        intents=intents,
        query=hide(conv.query),
        history=hide(join_history(conv.history_text(), memory_text, chosen.name)),
        user_context=hide(context_text) if context_text else None,
        small_kwargs=kwargs,
    )
    # auto's analysis names the strategy to compose with; the others compose as themselves.
    picked = outcome.data.get("strategy", chosen.name) if chosen.name == "auto" else chosen.name
    return Preprocessed(
        outcome.decomposition, picked, outcome.fallback_reason, outcome.stages, outcome.attempts
    )
