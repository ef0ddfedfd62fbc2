"""Running a pipeline in the engine's preprocessing stage.

A pipeline's steps fill variables; one step's output becomes the decomposition;
its compose step names the strategy whose template the engine then uses. LLM
steps go through the same JSON call (schema, validation, one repair) as every
strategy's analysis. Each step's input, output, tokens and time are recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic

from ..config.prompts import PromptRegistry
from ..config.schema import PipelineSpec, ResponseSchemaSpec, Step
from ..errors import ConfigError
from ..models import StepRecord
from ..strategies import STRATEGIES
from ..strategies.base import to_decomposition
from ..structured import analysis_call, ask_json
from . import expr
from .functions import FUNCTIONS
from .run import Run


def step_model(
    step: Step, intents: list[dict[str, str]], schemas: dict[str, ResponseSchemaSpec]
) -> type[pydantic.BaseModel]:
    name = step.schema_ or ""
    strategy = STRATEGIES.get(name)
    if strategy is not None and strategy.prompt is not None:
        return strategy.analysis_model(tuple(i["name"] for i in intents))
    if name in schemas:
        from ..response_schema import model_of

        return model_of(name, schemas[name])
    raise ConfigError(
        f"step {step.name!r}: unknown schema {name!r} (a strategy with an analysis, or a schemas.yaml name)"
    )


def _value(source: Any, run: Run) -> Any:
    """Strings in args and inputs are expressions over the run's variables."""
    if isinstance(source, str):
        return expr.evaluate(expr.parse(source), run.variables)
    if isinstance(source, dict):
        return {k: _value(v, run) for k, v in source.items()}
    return source


def _jsonable(value: Any, limit: int = 2000) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value


@dataclass(frozen=True)
class PipelineDeps:
    """What every step of one run shares."""

    pipelines: dict[str, PipelineSpec]
    small: str
    prompts: PromptRegistry
    intents: list[dict[str, str]]
    schemas: dict[str, ResponseSchemaSpec]
    small_kwargs: dict[str, Any]
    hide: Callable[[str], str]
    deadline: float | None = None


async def run_pipeline(
    name: str,
    pipelines: dict[str, PipelineSpec],
    run: Run,
    *,
    small: str,
    prompts: PromptRegistry,
    intents: list[dict[str, str]],
    schemas: dict[str, ResponseSchemaSpec],
    small_kwargs: dict[str, Any],
    hide: Callable[[str], str],
    deadline: float | None = None,
) -> Run:
    deps = PipelineDeps(pipelines, small, prompts, intents, schemas, small_kwargs, hide, deadline)
    await _run(name, deps, run)
    return run


async def _run(name: str, deps: PipelineDeps, run: Run) -> None:
    spec = deps.pipelines.get(name)
    if spec is None:
        raise ConfigError(f"unknown pipeline {name!r}; known: {', '.join(sorted(deps.pipelines))}")
    for step in spec.steps:
        if run.fallback_reason:
            break
        t0 = time.perf_counter()
        record = StepRecord(name=step.name, type=step.type, pipeline=name)
        if step.when is not None and not expr.evaluate(expr.parse(step.when), run.variables):
            record.skipped = True
            run.steps.append(record)
            continue
        output = await _step(name, step, deps, run, record)
        if step.output:
            run.variables[step.output] = output
        if step.decomposition and isinstance(output, dict):
            run.decomposition = to_decomposition(output)
        record.output = (
            _jsonable(output)
            if not isinstance(output, dict)
            else {k: _jsonable(v) for k, v in output.items()}
        )
        record.ms = (time.perf_counter() - t0) * 1000
        run.steps.append(record)


async def _step(pipeline: str, step: Step, deps: PipelineDeps, run: Run, record: StepRecord) -> Any:
    if step.type == "llm":
        return await _llm_step(pipeline, step, deps, run, record)
    if step.type == "function":
        args = _value(step.args, run)
        record.input = {k: _jsonable(v) for k, v in args.items()}
        return FUNCTIONS[step.function or ""](run, **args)
    if step.type == "pipeline":
        await _run(step.pipeline or "", deps, run)
        return None
    # "compose", the last of the four step types the schema allows
    chosen = step.strategy if step.strategy in STRATEGIES else _value(step.strategy, run)
    if chosen not in STRATEGIES or chosen == "auto":
        record.error = f"compose strategy {chosen!r} is not a strategy; used passthrough"
        chosen = "passthrough"
    run.strategy = chosen
    return chosen


async def _llm_step(
    pipeline: str, step: Step, deps: PipelineDeps, run: Run, record: StepRecord
) -> Any:
    inputs = {k: _value(v, run) for k, v in step.input.items()}
    variables = {**run.variables, **inputs}
    variables = {k: deps.hide(v) if isinstance(v, str) else v for k, v in variables.items()}
    record.input = {k: _jsonable(v) for k, v in inputs.items()} or {
        "query": _jsonable(variables.get("query"))
    }
    messages, params = analysis_call(deps.prompts, step.prompt or "", variables, deps.small_kwargs)
    outcome = await ask_json(
        deps.small,
        messages,
        step_model(step, deps.intents, deps.schemas),
        schema_name=f"{pipeline}_{step.name}",
        prompts=deps.prompts,
        params=params,
        stage=f"small:{step.name}",
        role="small",
        deadline=deps.deadline,
    )
    run.stages += outcome.stages
    run.attempts += outcome.attempts
    record.prompt_tokens = sum(s.prompt_tokens for s in outcome.stages)
    record.completion_tokens = sum(s.completion_tokens for s in outcome.stages)
    if outcome.data is None:
        reason = (
            f"small model unavailable: {outcome.failure.cause}"
            if outcome.failure
            else f"small model output invalid after one repair: {outcome.error}"
        )
        record.error = reason
        if step.decomposition:
            run.fallback_reason = reason
        return None
    return outcome.data
