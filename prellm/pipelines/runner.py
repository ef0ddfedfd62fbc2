"""Running a pipeline in the engine's preprocessing stage.

A pipeline's steps fill variables; one step's output becomes the decomposition;
its compose step names the strategy whose template the engine then uses. LLM
steps go through the same JSON call (schema, validation, one repair) as every
strategy's analysis. Each step's input, output, tokens and time are recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pydantic

from ..analysis import ask_json
from ..config.prompts import PromptRegistry
from ..config.schema import DomainRule, PipelineSpec, ResponseSchemaSpec, Step
from ..errors import ConfigError
from ..models import Decomposition, StageRecord, StepRecord
from ..safety import SensitiveDataFilter
from ..strategies import STRATEGIES
from ..strategies.base import to_decomposition
from . import expr
from .functions import FUNCTIONS


@dataclass
class Run:
    variables: dict[str, Any]
    rules: list[DomainRule]
    guard: SensitiveDataFilter | None
    stages: list[StageRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    decomposition: Decomposition | None = None
    strategy: str = "passthrough"
    fallback_reason: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


def step_model(
    step: Step, intents: list[dict[str, str]], schemas: dict[str, ResponseSchemaSpec]
) -> type[pydantic.BaseModel]:
    name = step.schema_ or ""
    strategy = STRATEGIES.get(name)
    if strategy is not None and strategy.prompt is not None:
        return strategy.analysis_model(tuple(i["name"] for i in intents))
    if name in schemas:
        from ..validation import model_of

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
    hide: Any,
) -> Run:
    spec = pipelines.get(name)
    if spec is None:
        raise ConfigError(f"unknown pipeline {name!r}; known: {', '.join(sorted(pipelines))}")
    for step in spec.steps:
        if run.fallback_reason:
            break
        t0 = time.perf_counter()
        record = StepRecord(name=step.name, type=step.type, pipeline=name)
        if step.when is not None and not expr.evaluate(expr.parse(step.when), run.variables):
            record.skipped = True
            run.steps.append(record)
            continue
        output: Any = None
        if step.type == "llm":
            inputs = {k: _value(v, run) for k, v in step.input.items()}
            variables = {**run.variables, **inputs}
            variables = {k: hide(v) if isinstance(v, str) else v for k, v in variables.items()}
            record.input = {k: _jsonable(v) for k, v in inputs.items()} or {
                "query": _jsonable(variables.get("query"))
            }
            outcome = await ask_json(
                small,
                step.prompt or "",
                step_model(step, intents, schemas),
                f"{name}_{step.name}",
                prompts=prompts,
                variables=variables,
                small_kwargs=small_kwargs,
                stage=f"small:{step.name}",
            )
            run.stages += outcome.stages
            run.attempts += outcome.attempts
            record.prompt_tokens = sum(s.prompt_tokens for s in outcome.stages)
            record.completion_tokens = sum(s.completion_tokens for s in outcome.stages)
            if outcome.decomposition is None:
                record.error = outcome.fallback_reason
                if step.decomposition:
                    run.fallback_reason = outcome.fallback_reason
            else:
                output = outcome.data
        elif step.type == "function":
            args = _value(step.args, run)
            record.input = {k: _jsonable(v) for k, v in args.items()}
            output = FUNCTIONS[step.function or ""](run, **args)
        elif step.type == "pipeline":
            await run_pipeline(
                step.pipeline or "",
                pipelines,
                run,
                small=small,
                prompts=prompts,
                intents=intents,
                schemas=schemas,
                small_kwargs=small_kwargs,
                hide=hide,
            )
        elif step.type == "compose":
            chosen = step.strategy if step.strategy in STRATEGIES else _value(step.strategy, run)
            if chosen not in STRATEGIES or chosen == "auto":
                record.error = f"compose strategy {chosen!r} is not a strategy; used passthrough"
                chosen = "passthrough"
            run.strategy = output = chosen
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
    return run


def check_pipelines(
    pipelines: dict[str, PipelineSpec],
    prompts: PromptRegistry,
    schemas: dict[str, ResponseSchemaSpec],
    source: str,
    text: str | None = None,
) -> None:
    """Every name a pipeline uses exists, every condition parses, no pipeline calls itself."""
    from ..config.files import _locate

    def fail(pipeline: str, i: int, key: str, message: str) -> None:
        line = _locate(text, ("pipelines", pipeline, "steps", i, key))[0] if text else None
        raise ConfigError(f"{source}:{line or 1}: pipelines.{pipeline}.steps.{i}.{key}: {message}")

    for pname, spec in pipelines.items():
        for i, step in enumerate(spec.steps):
            if step.type == "llm" and step.prompt not in prompts.prompts:
                fail(pname, i, "prompt", f"unknown prompt {step.prompt!r}")
            if step.type == "llm":
                name = step.schema_ or ""
                if not ((name in STRATEGIES and STRATEGIES[name].prompt) or name in schemas):
                    fail(pname, i, "schema", f"unknown schema {name!r}")
            if step.type == "function" and step.function not in FUNCTIONS:
                fail(
                    pname,
                    i,
                    "function",
                    f"unknown function {step.function!r}; known: {', '.join(FUNCTIONS)}",
                )
            if step.type == "pipeline" and step.pipeline not in pipelines:
                fail(pname, i, "pipeline", f"unknown pipeline {step.pipeline!r}")
            for key, src in (
                ("when", step.when),
                ("strategy", step.strategy if step.strategy not in STRATEGIES else None),
                *((f"input.{k}", v) for k, v in step.input.items()),
                *((f"args.{k}", v) for k, v in step.args.items() if isinstance(v, str)),
            ):
                if src is not None:
                    try:
                        expr.parse(src)
                    except ConfigError as exc:
                        fail(pname, i, key.split(".")[0], str(exc))

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise ConfigError(
                f"{source}: pipeline cycle: {' -> '.join([*path[path.index(name) :], name])}"
            )
        for step in pipelines[name].steps:
            if step.type == "pipeline" and step.pipeline in pipelines:
                visit(step.pipeline, [*path, name])

    for name in pipelines:
        visit(name, [])
