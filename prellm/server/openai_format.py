"""The one place a ``PreLLMResult`` becomes OpenAI's shapes: the ``chat.completion``,
its ``usage``, the stream's chunks, and the ``prellm`` summary both carry."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from ..models import PreLLMResult, ToolCallDelta


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def summary(result: PreLLMResult) -> dict[str, Any]:
    """The ``prellm`` field of a response: how the prompt was made, and what it cost."""
    d = result.decomposition
    return {
        "strategy": result.strategy,
        "requested_strategy": result.requested_strategy,
        "small_model": result.small_model_used,
        "large_model": result.model_used,
        "intent": d.intent,
        "domain": d.domain,
        "confidence": d.confidence,
        "missing": d.missing,
        "matched_rule": d.matched_rule,
        "parsed": result.parsed,
        "pipeline": result.pipeline,
        "pipeline_steps": [s.model_dump(mode="json") for s in result.pipeline_steps],
        "needs_clarification": result.needs_clarification,
        "fallback_reason": d.fallback_reason,
        "decomposition": d.model_dump(mode="json"),
        "sub_answers": [s.model_dump() for s in result.sub_answers],
        "usage": {k: v.model_dump() for k, v in result.usage.items()},
        "cost_usd": result.cost_usd,
        "timings_ms": result.timings_ms,
        "notices": result.notices,
        "redactions": result.redactions,
        "condensed": result.condensed.model_dump() if result.condensed else None,
    }


def usage(result: PreLLMResult) -> dict[str, int]:
    """Both stages' tokens, as the providers reported them."""
    total = result.usage["total"]
    return {
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "total_tokens": total.total_tokens,
    }


def completion(model: str, result: PreLLMResult) -> dict[str, Any]:
    """A non-streamed ``chat.completion``: every choice as the upstream gave it."""
    choices = result.choices or [
        {
            "index": 0,
            "message": {"role": "assistant", "content": result.content},
            "finish_reason": result.finish_reason or "stop",
        }
    ]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{**c, "finish_reason": c.get("finish_reason") or "stop"} for c in choices],
        "usage": usage(result),
        "prellm": summary(result),
    }


class ChunkWriter:
    """``chat.completion.chunk`` events of one stream, as SSE bytes."""

    def __init__(self, model: str) -> None:
        self.model, self.id, self.created = model, completion_id(), int(time.time())

    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": choices,
                **extra,
            }
        )

    def delta(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return self._event([{"index": 0, "delta": delta, "finish_reason": finish}], **extra)

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        piece: dict[str, Any] = {"index": delta.index, "function": {"arguments": delta.arguments}}
        if delta.id:
            piece["id"], piece["type"] = delta.id, "function"
        if delta.name:
            piece["function"]["name"] = delta.name
        return self.delta({"tool_calls": [piece]})

    def final(self, result: PreLLMResult) -> bytes:
        return self.delta({}, finish=result.finish_reason or "stop", prellm=summary(result))

    def usage(self, result: PreLLMResult) -> bytes:
        return self._event([], usage=usage(result))


def sse(data: dict[str, Any] | str) -> bytes:
    text = (
        data
        if isinstance(data, str)
        else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    )
    return f"data: {text}\n\n".encode()
