"""preLLM's results and stream events as Haystack chat messages and streaming chunks."""

from __future__ import annotations

import json
from typing import Any

from haystack.dataclasses import ChatMessage, ComponentInfo, StreamingChunk, ToolCall
from haystack.dataclasses import ToolCallDelta as HaystackToolCallDelta
from prellm import PreLLMResult, ToolCallDelta


def usage(result: PreLLMResult) -> dict[str, int]:
    """Tokens of both stages (the small and the large model's calls)."""
    total = result.usage["total"]
    return {
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "total_tokens": total.prompt_tokens + total.completion_tokens,
    }


def meta(result: PreLLMResult) -> dict[str, Any]:
    """Haystack's usual reply meta, and under ``prellm`` what preLLM did."""
    d = result.decomposition
    return {
        "model": result.model_used,
        "index": 0,
        "finish_reason": result.finish_reason,
        "usage": usage(result),
        "prellm": {
            "small_model": result.small_model_used,
            "strategy": result.strategy,
            "pipeline": result.pipeline,
            "intent": d.intent,
            "missing": list(d.missing),
            "fallback_reason": d.fallback_reason,
            "decomposition": d.model_dump(exclude_none=True),
            "cost_usd": result.cost_usd["total"],
            "timings_ms": result.timings_ms,
            "usage_by_stage": {k: v.model_dump() for k, v in result.usage.items()},
            "notices": list(result.notices),
        },
    }


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"_raw": text}  # Haystack's ToolCall needs a dict; the model wrote no JSON
    return value if isinstance(value, dict) else {"_raw": value}


def reply(result: PreLLMResult) -> ChatMessage:
    calls = [
        ToolCall(tool_name=c.function.name, arguments=_arguments(c.function.arguments), id=c.id)
        for c in result.tool_calls
    ]
    return ChatMessage.from_assistant(result.content or None, meta=meta(result), tool_calls=calls)


def text_chunk(text: str, model: str, info: ComponentInfo, first: bool) -> StreamingChunk:
    return StreamingChunk(
        content=text, meta={"model": model}, component_info=info, index=0, start=first
    )


def tool_chunk(delta: ToolCallDelta, model: str, info: ComponentInfo) -> StreamingChunk:
    call = HaystackToolCallDelta(
        index=delta.index, tool_name=delta.name, arguments=delta.arguments or None, id=delta.id
    )
    return StreamingChunk(
        content="",
        meta={"model": model},
        component_info=info,
        index=delta.index + 1,
        start=delta.name is not None,
        tool_calls=[call],
    )


def last_chunk(result: PreLLMResult, info: ComponentInfo, text_sent: bool) -> StreamingChunk:
    """The closing chunk: what was not streamed (a structured answer), finish reason, usage."""
    reason = (
        result.finish_reason if result.finish_reason in ("stop", "length", "tool_calls") else None
    )
    return StreamingChunk(
        content="" if text_sent else result.content,
        meta=meta(result),
        component_info=info,
        finish_reason=reason,
    )
