"""The large model's call: streamed or not, placeholders restored, and — when a response
schema is asked for — constrained, validated and re-asked once with the errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from . import providers
from .analysis import stage_record
from .errors import ValidationError
from .messages import Conversation
from .models import StageRecord, SubAnswer
from .safety import SensitiveDataFilter
from .strategies import ComposeContext, Strategy
from .validation import SchemaRequest, schema_instruction, validate_answer


@dataclass
class Answer:
    completion: providers.Completion
    content: str  # what the user sees: placeholders restored
    stages: list[StageRecord] = field(default_factory=list)
    parsed: dict[str, Any] | None = None


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
    error: str | None = ""
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


async def answer_parts(
    large: str,
    parts: list[str],
    conv: Conversation,
    strategy: Strategy,
    ctx: ComposeContext,
    params: dict[str, Any],
    guard: SensitiveDataFilter | None,
    stages: list[StageRecord],
) -> list[SubAnswer]:
    """Split's sub-queries, answered concurrently; every part that ran is recorded in ``stages``."""
    done = await asyncio.gather(
        *[
            providers.acomplete(
                large, _redact(guard, conv.replace_last(strategy.part_prompt(ctx, q))), **params
            )
            for q in parts
        ],
        return_exceptions=True,  # parts that succeeded are still accounted for
    )
    sub_answers = []
    for i, (q, c) in enumerate(zip(parts, done, strict=True), 1):
        if isinstance(c, BaseException):
            continue
        stages.append(stage_record(f"part_{i}", "large", c))
        # The merge call gets the answers as the model wrote them (placeholders kept).
        sub_answers.append(SubAnswer(query=q, answer=c.content))
    if failed := next((c for c in done if isinstance(c, BaseException)), None):
        raise failed
    return sub_answers


def _redact(
    guard: SensitiveDataFilter | None, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return guard.redact_messages(messages) if guard else messages
