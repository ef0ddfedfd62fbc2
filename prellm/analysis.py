"""The preprocessing stage: one small-model call that returns validated JSON.

The small model is asked for JSON matching the strategy's schema, constrained
by ``response_format`` where the provider supports schemas. Invalid output gets
one repair attempt that shows the model the validation error; after that (or
if the small model is unreachable) the caller degrades to passthrough, with
the reason recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pydantic

from . import providers
from .config.prompts import PromptRegistry
from .errors import ConfigError, ProviderError
from .models import Decomposition, StageRecord
from .strategies import Strategy
from .strategies.base import to_decomposition


@dataclass
class AnalysisOutcome:
    decomposition: Decomposition | None
    data: dict[str, Any] = field(default_factory=dict)
    stages: list[StageRecord] = field(default_factory=list)
    fallback_reason: str | None = None
    attempts: list[dict[str, Any]] = field(
        default_factory=list
    )  # what was sent and received, for traces


def compact_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with ``$ref``s inlined and titles dropped.

    Flat schemas are what small models and grammar-constrained decoders handle best.
    """
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].split("/")[-1]])
            return {k: walk(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = walk(schema)
    out["additionalProperties"] = False
    return out


def extract_json(text: str) -> Any:
    """Parse a JSON object from model output, tolerating code fences and chatter around it."""
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        raise ValueError("no JSON object in the reply")
    return json.loads(text[start : end + 1])


def _validation_error(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}"
            for e in exc.errors()[:6]
        )
    return str(exc)


def stage_record(stage: str, role: str, c: providers.Completion) -> StageRecord:
    return StageRecord(
        stage=stage,
        model=c.model,
        role=role,  # type: ignore[arg-type]
        prompt_tokens=c.prompt_tokens,
        completion_tokens=c.completion_tokens,
        cost_usd=c.cost_usd,
        ms=c.ms,
        finish_reason=c.finish_reason,
    )


async def analyse(
    strategy: Strategy,
    small_model: str,
    *,
    prompts: PromptRegistry,
    intents: list[dict[str, str]],
    query: str,
    history: str,
    user_context: str | None,
    small_kwargs: dict[str, Any],
) -> AnalysisOutcome:
    """The strategy's analysis of the request: its prompt, its schema."""
    assert strategy.prompt is not None
    return await ask_json(
        small_model,
        strategy.prompt,
        strategy.analysis_model(tuple(i["name"] for i in intents)),
        f"{strategy.name}_analysis",
        prompts=prompts,
        variables={
            "query": query,
            "history": history,
            "user_context": user_context,
            "intents": intents,
        },
        small_kwargs=small_kwargs,
    )


async def ask_json(
    small_model: str,
    prompt: str,
    model_cls: type[pydantic.BaseModel],
    schema_name: str,
    *,
    prompts: PromptRegistry,
    variables: dict[str, Any],
    small_kwargs: dict[str, Any],
    stage: str = "small",
) -> AnalysisOutcome:
    """One small-model call for JSON matching ``model_cls``, with one repair attempt."""
    schema = compact_schema(model_cls)
    response_format = providers.json_response_format(small_model, schema_name, schema)
    text = prompts.render(prompt, **variables)
    if response_format is None or response_format["type"] == "json_object":
        text += "\n\nJSON Schema of the reply:\n" + json.dumps(schema, ensure_ascii=False)
    spec = prompts.spec(prompt)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.render("analyze.system")},
        {"role": "user", "content": text},
    ]
    params = {
        "max_tokens": spec.max_tokens,
        "temperature": spec.temperature,
        "response_format": response_format,
        "timeout": 60.0,
        **small_kwargs,
    }
    outcome = AnalysisOutcome(decomposition=None)
    error = ""
    for attempt in (stage, f"{stage}_repair"):
        try:
            c = await providers.acomplete(small_model, messages, **params)
        except ConfigError:
            raise
        except ProviderError as exc:
            outcome.stages.append(
                StageRecord(
                    stage=attempt, model=small_model, role="small", ok=False, error=exc.cause
                )
            )
            outcome.fallback_reason = f"small model unavailable: {exc.cause}"
            return outcome
        record = stage_record(attempt, "small", c)
        outcome.stages.append(record)
        outcome.attempts.append(
            {"stage": attempt, "prompt": messages[-1]["content"], "raw_output": c.content}
        )
        try:
            data = model_cls.model_validate(extract_json(c.content)).model_dump()
        except (ValueError, pydantic.ValidationError) as exc:
            error = _validation_error(exc)
            record.ok, record.error = False, f"invalid output: {error}"
            messages += [
                {"role": "assistant", "content": c.content},
                {"role": "user", "content": prompts.render("analyze.repair", error=error)},
            ]
            continue
        outcome.data = data
        outcome.decomposition = to_decomposition(data)
        return outcome
    outcome.fallback_reason = f"small model output invalid after one repair: {error}"
    return outcome
