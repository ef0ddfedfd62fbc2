"""The engine. A request flows one way:

    configuration → small-model analysis (strategy's schema) → prompt composition
    → large model (parts first, for split) → validation → PreLLMResult

Strategies only declare what to ask the small model and how to compose; every
model call happens here, through ``prellm.providers``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import pydantic

from .answer import answer, answer_parts
from .bookkeeping import RequestState, guarded
from .config.loader import Config, load_config
from .config.prompts import PromptRegistry
from .config.resources import shipped_yaml
from .config.settings import resolve_models
from .context.gather import context_text as as_context_text
from .context.gather import gather_context
from .errors import ConfigError, ValidationError
from .language import language_name
from .messages import Conversation, build_large_messages
from .models import Decomposition, PreLLMResult, StageEvent, StageRecord, SubAnswer
from .observability.logging import install_scrubber
from .preprocess import preprocess
from .rules import match_rules
from .safety import SensitiveDataFilter
from .store import BudgetTracker, Limits, UserMemory
from .strategies import ComposeContext, Composition, get_strategy
from .validation import schema_request

Event = str | StageEvent | PreLLMResult
log = logging.getLogger("prellm.engine")
install_scrubber()


class PreLLM:
    """An engine bound to a configuration: models, default strategy, prompts, intents.

    ``llm_kwargs`` (temperature, max_tokens, api_base, api_key, timeout, ...) go
    to every large-model call; ``small_kwargs`` to the small model's.
    """

    def __init__(
        self,
        small_llm: str | None = None,
        large_llm: str | None = None,
        strategy: str | None = None,
        *,
        config: Config | str | Path | None = None,
        domain: str | None = None,
        small_kwargs: dict[str, Any] | None = None,
        prompts: PromptRegistry | None = None,
        intents: list[dict[str, str]] | None = None,
        sanitize: bool | None = None,
        budget: BudgetTracker | None | bool = True,
        memory: UserMemory | None = None,
        trace: bool | None = None,
        trace_dir: str | None = None,
        **llm_kwargs: Any,
    ) -> None:
        # Explicit arguments win over the config file, which wins over the environment.
        self.config = config if isinstance(config, Config) else load_config(config, domain=domain)
        cfg = self.config
        cfg_small, cfg_small_kwargs = cfg.model("small")
        cfg_large, cfg_large_kwargs = cfg.model("large")
        self.strategy = strategy or cfg.file.strategy
        get_strategy(self.strategy)  # fail on a typo now, not at the first query
        self._small_arg, self._large_arg = small_llm or cfg_small, large_llm or cfg_large
        self.small_kwargs = {**cfg_small_kwargs, **(small_kwargs or {})}
        self.llm_kwargs = {**cfg_large_kwargs, **llm_kwargs}
        self._prompts = prompts or cfg.prompts
        self._intents = intents or cfg.intents
        # The intents file's shortlist; intents given to the engine directly are offered whole.
        self.intent_shortlist = None if intents else cfg.intent_shortlist
        self.sanitize = cfg.file.sanitize if sanitize is None else sanitize
        # The usage ledger is on unless turned off (budget=False or PRELLM_NO_LEDGER=1).
        if budget is True:
            b = cfg.file.budget
            limits = Limits(b.monthly, b.daily, dict(b.per_model_monthly)) if b else None
            budget = None if os.environ.get("PRELLM_NO_LEDGER") else BudgetTracker.shared(limits)
        self.budget = budget or None
        self.memory = memory
        self.trace = cfg.file.trace if trace is None else trace
        self.trace_dir = trace_dir

    @cached_property
    def models(self) -> tuple[str, str, list[str]]:
        return resolve_models(self._small_arg, self._large_arg)

    @cached_property
    def prompts(self) -> PromptRegistry:
        return self._prompts or PromptRegistry.default()

    @cached_property
    def intents(self) -> list[dict[str, str]]:
        return self._intents or shipped_yaml("intents.yaml")["intents"]

    # --- public surface ---------------------------------------------------------------

    async def arun(self, query: str | None = None, **kwargs: Any) -> PreLLMResult:
        """Run a request and return the result (the large model's answer is not streamed)."""
        result = None
        # Run the generator to its end (not return at the result): its bookkeeping
        # (settling the budget, writing the trace) happens after the last event.
        async for event in guarded(self, query, stream=False, **kwargs):
            if isinstance(event, PreLLMResult):
                result = event
        if result is None:  # pragma: no cover
            raise AssertionError("engine ended without a result")
        return result

    async def astream(self, query: str | None = None, **kwargs: Any) -> AsyncIterator[Event]:
        """Yield stage events and text chunks as they happen, then the PreLLMResult."""
        async for event in guarded(self, query, stream=True, **kwargs):
            yield event

    def run(self, query: str | None = None, **kwargs: Any) -> PreLLMResult:
        return _run_sync(self.arun(query, **kwargs))

    def stream(self, query: str | None = None, **kwargs: Any) -> Iterator[Event]:
        with asyncio.Runner() as runner:
            agen = self.astream(query, **kwargs)
            while True:
                try:
                    yield runner.run(_next(agen))
                except StopAsyncIteration:
                    return

    def _clarification(
        self,
        query: str,
        decomposition: Decomposition,
        stages: list[StageRecord],
        small: str,
        large: str,
        strategy: str,
        requested: str,
        notices: list[str],
        guard: SensitiveDataFilter | None,
        t0: float,
        missing: list[str],
    ) -> PreLLMResult:
        notices.append(
            f"rule {decomposition.matched_rule!r} asks before answering; the large model was not called"
        )
        return PreLLMResult(
            content=_clarification_text(query, missing, self.prompts),
            model_used=large,
            small_model_used=small if stages else None,
            strategy=strategy,
            requested_strategy=requested,
            decomposition=decomposition,
            stages=stages,
            notices=notices,
            redactions=guard.report if guard else {},
            needs_clarification=True,
            finish_reason="clarification",
            total_ms=(time.perf_counter() - t0) * 1000,
        )

    # --- the one path -----------------------------------------------------------------

    async def _execute(
        self,
        query: str | None,
        *,
        stream: bool,
        messages: list[dict[str, Any]] | None = None,
        strategy: str | None = None,
        user_context: str | dict[str, Any] | None = None,
        small_kwargs: dict[str, Any] | None = None,
        sanitize: bool | None = None,
        codebase_path: str | None = None,
        codebase_budget: int = 2000,
        collect_runtime: bool = False,
        response_schema: str | dict[str, Any] | type[pydantic.BaseModel] | None = None,
        pipeline: str | None = None,
        state: RequestState | None = None,
        **llm_kwargs: Any,
    ) -> AsyncIterator[Event]:
        t0 = time.perf_counter()
        state = state or RequestState()
        guard = (
            SensitiveDataFilter(self.config.sensitive_rules)
            if (self.sanitize if sanitize is None else sanitize)
            else None
        )
        state.guard = guard
        trace = state.trace
        if trace and guard:
            trace.hide = guard.redact
        conv = Conversation.from_input(query, messages)
        schema_req = schema_request(self.config.schemas, response_schema)
        rule = match_rules(conv.query, self.config.rules)
        requested = strategy or self.strategy
        # A matched rule picks the strategy when the choice was left to preLLM.
        if (
            rule
            and rule.rule.strategy
            and not strategy
            and self.strategy == "auto"
            and not rule.rule.intents
        ):
            requested = rule.rule.strategy
        chosen = get_strategy(requested)
        pipeline = pipeline or (self.config.file.pipeline if not strategy else None)
        if pipeline and pipeline not in self.config.pipelines:
            raise ConfigError(
                f"unknown pipeline {pipeline!r}; known: {', '.join(sorted(self.config.pipelines))}"
            )
        small, large, notices = self.models
        notices = list(notices)
        context_text = as_context_text(user_context)
        background = [self.config.domain_context, rule.rule.context if rule else None]
        context_text = "\n".join(filter(None, [context_text, *background])) or None
        # Within a pipeline, a compress_context step decides about the project itself.
        project_path = None if pipeline else codebase_path
        if project_path or collect_runtime:
            extra = await asyncio.to_thread(
                gather_context,
                conv.query,
                project_path,
                codebase_budget,
                collect_runtime,
                notices,
            )
            context_text = "\n".join(filter(None, [context_text, extra])) or None
        # The caller settles the budget from these stages, even when the request fails.
        stages: list[StageRecord] = state.stages
        decomposition = Decomposition()
        if trace:
            trace.step(
                "query", text=conv.query, history=conv.history_text(), user_context=context_text
            )
        for notice in notices:
            yield StageEvent(stage="setup", status="notice", detail={"message": notice})

        run = None
        if pipeline or chosen.prompt is not None:
            what = {"pipeline": pipeline} if pipeline else {"strategy": chosen.name}
            yield StageEvent(stage="small", status="start", model=small, detail=what)
            pre = await preprocess(
                self,
                chosen,
                pipeline,
                small=small,
                conv=conv,
                memory_text=state.memory_text,
                context_text=context_text,
                guard=guard,
                small_kwargs=small_kwargs,
                codebase_path=codebase_path,
            )
            stages += pre.stages
            if trace:
                for a in pre.attempts:
                    trace.step("small model", **a)
            if (run := pre.run) is not None:
                requested = f"pipeline:{pipeline}"
                if trace:
                    trace.step(
                        "pipeline",
                        pipeline=pipeline,
                        steps=[s.model_dump(mode="json") for s in run.steps],
                    )
                if (project := run.variables.get("project")) and not run.fallback_reason:
                    context_text = "\n".join(
                        filter(None, [context_text, "Project:\n" + str(project)])
                    )
            if pre.decomposition is None or pre.fallback_reason:
                decomposition.fallback_reason = pre.fallback_reason
                notices.append(
                    f"preprocessing skipped, query sent unchanged: {pre.fallback_reason}"
                )
                chosen = get_strategy("passthrough")
                yield StageEvent(
                    stage="small",
                    status="fallback",
                    model=small,
                    detail={"reason": pre.fallback_reason},
                )
            else:
                decomposition, chosen = pre.decomposition, get_strategy(pre.strategy)
                detail: dict[str, Any] = {
                    "strategy": chosen.name,
                    "intent": decomposition.intent,
                    "pipeline": pipeline,
                }
                if pre.stages:
                    detail["ms"] = round(sum(s.ms for s in pre.stages))
                yield StageEvent(stage="small", status="done", model=small, detail=detail)

        if rule and (not rule.rule.intents or decomposition.intent in rule.rule.intents):
            decomposition.matched_rule = rule.rule.name
            decomposition.missing = list(dict.fromkeys([*rule.missing, *decomposition.missing]))
            if rule.missing and rule.rule.policy == "ask":
                # Asking beats guessing: no large call until the user gives what is missing.
                yield self._clarification(
                    conv.query,
                    decomposition,
                    stages,
                    small,
                    large,
                    chosen.name,
                    requested,
                    notices,
                    guard,
                    t0,
                    rule.missing,
                )
                return

        ctx = ComposeContext(
            query=conv.query,
            decomposition=decomposition,
            prompts=self.prompts,
            language=language_name(decomposition.language, conv.query),
            user_context=context_text,
            intent_descriptions={i["name"]: i["description"] for i in self.intents},
        )
        params = {**self.llm_kwargs, **llm_kwargs}
        sub_answers: list[SubAnswer] = []
        parts = chosen.parts(ctx)
        if parts:
            yield StageEvent(
                stage="parts", status="start", model=large, detail={"count": len(parts)}
            )
            sub_answers = await answer_parts(large, parts, conv, chosen, ctx, params, guard, stages)
            if trace:
                trace.step("sub-answers", answers=[s.model_dump() for s in sub_answers])
            composition = chosen.merge(ctx, sub_answers)
        else:
            composition = chosen.compose(ctx) if chosen.name != "split" else Composition()

        final_messages = build_large_messages(conv, composition)
        final_messages = guard.redact_messages(final_messages) if guard else final_messages
        hide_all = guard.redact if guard else _same
        # The result shows what the large model was sent, redacted as it was sent.
        decomposition.system_prompt = hide_all(composition.system) if composition.system else None
        decomposition.composed_prompt = hide_all(
            composition.user if composition.user is not None else conv.query
        )
        if guard and guard.report:
            notices.append("redacted before sending: " + _kinds(guard.report))
        if trace:
            trace.step(
                "strategy",
                chosen=chosen.name,
                requested=requested,
                reason=decomposition.strategy_reason,
                fallback_reason=decomposition.fallback_reason,
            )
            trace.step("large model request", messages=final_messages)

        yield StageEvent(
            stage="large", status="start", model=large, detail={"strategy": chosen.name}
        )
        result_answer = None
        async for item in answer(
            large, final_messages, params, stream=stream, guard=guard, schema=schema_req
        ):
            if isinstance(item, str):
                yield item
            else:
                result_answer = item
        assert result_answer is not None
        completion, content = result_answer.completion, result_answer.content
        stages += result_answer.stages
        if trace:
            trace.step(
                "large model", stage=result_answer.stages[-1].stage, answer=completion.content
            )
        if completion.usage_estimated:
            notices.append(f"{large} reported no token usage; counts for 'large' are estimates")

        if not completion.content.strip():
            raise ValidationError(large, f"empty answer (finish_reason={completion.finish_reason})")
        if completion.finish_reason == "length":
            notices.append("the answer was cut at max_tokens")

        yield StageEvent(
            stage="large", status="done", model=large, detail={"ms": round(completion.ms)}
        )
        if guard:
            sub_answers = [
                SubAnswer(query=guard.restore(s.query), answer=guard.restore(s.answer))
                for s in sub_answers
            ]
        yield PreLLMResult(
            content=content,
            model_used=large,
            small_model_used=small if any(s.role == "small" for s in stages) else None,
            strategy=chosen.name,
            requested_strategy=requested,
            decomposition=decomposition,
            sub_answers=sub_answers,
            stages=stages,
            notices=notices,
            redactions=guard.report if guard else {},
            parsed=result_answer.parsed,
            pipeline=pipeline,
            pipeline_steps=run.steps if run else [],
            finish_reason=completion.finish_reason,
            total_ms=(time.perf_counter() - t0) * 1000,
        )


def _clarification_text(query: str, missing: list[str], prompts: PromptRegistry) -> str:
    return prompts.render("compose.clarify", missing=missing, language=language_name(None, query))


def _same(text: str) -> str:
    return text


def _kinds(report: dict[str, int]) -> str:
    return ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in sorted(report.items()))


async def _next(agen: AsyncIterator[Event]) -> Event:
    return await anext(agen)


def _run_sync(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise ConfigError(
        "called the sync API inside a running event loop; use `await ...arun()` instead"
    )
