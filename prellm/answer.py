"""The large model's call: streamed or not, placeholders restored, and — when a response
schema is asked for — constrained, validated and re-asked once with the errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pydantic

from . import providers
from .analysis import stage_record
from .errors import ValidationError
from .models import StageRecord
from .safety import SensitiveDataFilter
from .validation import schema_instruction, validate_answer


@dataclass
class Answer:
    completion: providers.Completion
    content: str  # what the user sees: placeholders restored
    stages: list[StageRecord] = field(default_factory=list)
    parsed: dict[str, Any] | None = None


@dataclass
class SchemaRequest:
    name: str
    model: type[pydantic.BaseModel]
    json_schema: dict[str, Any]


async def answer(
    large: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    stream: bool,
    guard: SensitiveDataFilter | None,
    schema: SchemaRequest | None = None,
) -> AsyncIterator[str | Answer]:
    """Yield text chunks (when streaming), then one ``Answer``."""
    if schema is not None:
        yield await _structured(large, messages, params, guard, schema)
        return
    if not stream:
        c = await providers.acomplete(large, messages, **params)
        yield Answer(
            c, guard.restore(c.content) if guard else c.content, [stage_record("large", "large", c)]
        )
        return
    completion = None
    restorer = guard.restorer() if guard else None
    async for item in providers.astream(large, messages, **params):
        if isinstance(item, str):
            text = restorer.feed(item) if restorer else item
            if text:
                yield text
        else:
            completion = item
    if restorer and (tail := restorer.flush()):
        yield tail
    assert completion is not None
    content = guard.restore(completion.content) if guard else completion.content
    yield Answer(completion, content, [stage_record("large", "large", completion)])


async def _structured(
    large: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    guard: SensitiveDataFilter | None,
    schema: SchemaRequest,
) -> Answer:
    rf = providers.json_response_format(large, schema.name, schema.json_schema)
    msgs = [dict(m) for m in messages]
    if rf is None or rf["type"] != "json_schema":
        # No schema-constrained decoding here: the schema goes into the request instead.
        msgs[-1] = {
            **msgs[-1],
            "content": f"{msgs[-1].get('content')}\n\n{schema_instruction(schema.name, schema.json_schema)}",
        }
    call = {**params, **({"response_format": rf} if rf else {})}
    stages: list[StageRecord] = []
    error = ""
    for attempt in ("large", "large_repair"):
        c = await providers.acomplete(large, msgs, **call)
        record = stage_record(attempt, "large", c)
        stages.append(record)
        text = guard.restore(c.content) if guard else c.content
        parsed, error = validate_answer(schema.model, text)
        if parsed is not None:
            return Answer(c, text, stages, parsed)
        record.ok, record.error = False, f"invalid {schema.name}: {error}"
        msgs += [
            {"role": "assistant", "content": c.content},
            {
                "role": "user",
                "content": f"Your answer did not match the schema: {error}\nReply again with one corrected JSON object only.",
            },
        ]
    raise ValidationError(
        large, f"answer does not match schema {schema.name!r} after one re-ask: {error}"
    )
