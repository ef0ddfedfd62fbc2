"""One JSON call with one repair: how preLLM asks any model for validated JSON.

Used by the small model's analysis, pipeline LLM steps and structured answers
alike. The reply is constrained by ``response_format`` where the provider
supports schemas (otherwise the schema goes into the prompt); invalid output
gets exactly one repair turn showing the model its validation error (the
``analyze.repair`` prompt, the one repair text). What to do when it is still
invalid, or the model is unreachable, is the caller's decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic

from . import providers
from .config.prompts import PromptRegistry
from .errors import ConfigError, ProviderError
from .models import StageRecord

_FENCE = re.compile(r"```(?:json)?[ \t]*\n?(.*?)```", re.S)


def compact_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with ``$ref``s inlined and titles dropped.

    Flat schemas are what small models and grammar-constrained decoders handle best.
    """
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any, names: bool = False) -> Any:
        # ``names``: the keys are field names (``properties``), never keywords to drop.
        if isinstance(node, dict):
            if "$ref" in node and not names:
                return walk(defs[node["$ref"].split("/")[-1]])
            return {
                k: walk(v, k == "properties" and not names)
                for k, v in node.items()
                if names or k != "title"
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    out["additionalProperties"] = False
    return out


def extract_json(text: str) -> Any:
    """Parse a JSON object from model output, tolerating code fences and chatter around it."""
    text = text.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        raise ValueError("no JSON object in the reply")
    return json.loads(text[start : end + 1])


def validation_error(exc: Exception) -> str:
    """A validation failure in a line or two, fit to show a model or a user."""
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}"
            for e in exc.errors()[:6]
        )
    return str(exc)


def validate(model: type[pydantic.BaseModel], text: str) -> tuple[dict[str, Any] | None, str]:
    """(the validated object as JSON-ready data, "") or (None, the error)."""
    try:
        return model.model_validate(extract_json(text)).model_dump(mode="json"), ""
    except ValueError as exc:  # pydantic.ValidationError and JSON errors alike
        return None, validation_error(exc)


def schema_instruction(name: str, schema: dict[str, Any]) -> str:
    return f"Reply with one JSON object only, matching this JSON Schema ({name}):\n" + json.dumps(
        schema, ensure_ascii=False
    )


@dataclass
class JsonOutcome:
    """What a JSON call produced: the data, or why not, and every call it made."""

    data: dict[str, Any] | None = None
    text: str = ""  # the last reply, as the caller's ``reply`` hook turned it
    error: str = ""  # the last validation error
    failure: ProviderError | None = None  # the model could not be reached
    stages: list[StageRecord] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)  # sent/received, for traces
    completion: providers.Completion | None = None


def _same(text: str) -> str:
    return text


async def ask_json(
    model: str,
    messages: list[dict[str, Any]],
    model_cls: type[pydantic.BaseModel],
    *,
    schema_name: str,
    prompts: PromptRegistry,
    params: dict[str, Any],
    stage: str,
    role: str,
    reply: Callable[[str], str] = _same,
    deadline: float | None = None,
) -> JsonOutcome:
    """Ask ``model`` for JSON matching ``model_cls``; one repair turn if the reply is invalid.

    ``reply`` maps the raw reply before validation (e.g. restoring placeholders).
    A provider failure is returned in ``failure`` (with its failed stage recorded),
    never raised; a ConfigError (unknown model) is raised.
    """
    schema = compact_schema(model_cls)
    rf = providers.json_response_format(model, schema_name, schema)
    msgs = [dict(m) for m in messages]
    if rf is None or rf["type"] != "json_schema":
        # No schema-constrained decoding: the schema goes into the request instead.
        last = msgs[-1]
        msgs[-1] = {
            **last,
            "content": f"{last.get('content')}\n\n" + schema_instruction(schema_name, schema),
        }
    call = {**params, **({"response_format": rf} if rf else {})}
    out = JsonOutcome()
    for attempt in (stage, f"{stage}_repair"):
        try:
            c = await providers.acomplete(model, msgs, deadline=deadline, **call)
        except ConfigError:
            raise
        except ProviderError as exc:
            out.stages.append(
                StageRecord(stage=attempt, model=model, role=role, ok=False, error=exc.cause)
            )
            out.failure = exc
            return out
        record = c.record(attempt, role)
        out.stages.append(record)
        out.attempts.append(
            {"stage": attempt, "prompt": msgs[-1]["content"], "raw_output": c.content}
        )
        out.completion, out.text = c, reply(c.content)
        out.data, out.error = validate(model_cls, out.text)
        if out.data is not None:
            return out
        record.ok, record.error = False, f"invalid output: {out.error}"
        msgs += [
            {"role": "assistant", "content": c.content},
            {"role": "user", "content": prompts.render("analyze.repair", error=out.error)},
        ]
    return out


def analysis_call(
    prompts: PromptRegistry, prompt: str, variables: dict[str, Any], small_kwargs: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages and parameters of a small-model analysis with the named prompt."""
    spec = prompts.spec(prompt)
    messages = [
        {"role": "system", "content": prompts.render("analyze.system")},
        {"role": "user", "content": prompts.render(prompt, **variables)},
    ]
    params = {
        "max_tokens": spec.max_tokens,
        "temperature": spec.temperature,
        "timeout": 60.0,
        **small_kwargs,
    }
    return messages, params
