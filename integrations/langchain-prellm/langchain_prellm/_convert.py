"""preLLM's results as LangChain messages: text, tool calls, usage and metadata."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    InvalidToolCall,
    ToolCall,
    ToolCallChunk,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call
from prellm import PreLLMResult, ToolCallDelta


def usage_metadata(result: PreLLMResult) -> UsageMetadata:
    """Tokens of both stages (small and large model calls), as the providers reported them."""
    total = result.usage["total"]
    return UsageMetadata(
        input_tokens=total.prompt_tokens,
        output_tokens=total.completion_tokens,
        total_tokens=total.prompt_tokens + total.completion_tokens,
    )


def response_metadata(result: PreLLMResult) -> dict[str, Any]:
    """What preLLM did: models, strategy, the small model's analysis, cost and timings."""
    d = result.decomposition
    return {
        "model_name": result.model_used,
        "small_model_name": result.small_model_used,
        "finish_reason": result.finish_reason,
        "strategy": result.strategy,
        "requested_strategy": result.requested_strategy,
        "pipeline": result.pipeline,
        "intent": d.intent,
        "missing": list(d.missing),
        "fallback_reason": d.fallback_reason,
        "needs_clarification": result.needs_clarification,
        "turn": result.turn,
        "decomposition": d.model_dump(exclude_none=True),
        "cost_usd": result.cost_usd["total"],
        "cost_usd_by_stage": result.cost_usd,
        "timings_ms": result.timings_ms,
        "usage_by_stage": {k: v.model_dump() for k, v in result.usage.items()},
        "notices": list(result.notices),
    }


def tool_calls(result: PreLLMResult) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """The large model's tool calls; ones whose arguments are not JSON come back invalid."""
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for call in result.tool_calls:
        raw = call.model_dump()
        try:
            parsed = parse_tool_call(raw, return_id=True)
        except Exception as exc:  # OutputParserException and JSON errors alike
            invalid.append(make_invalid_tool_call(raw, str(exc)))
            continue
        if parsed is not None:
            valid.append(ToolCall(name=parsed["name"], args=parsed["args"], id=parsed.get("id")))
    return valid, invalid


def ai_message(result: PreLLMResult) -> AIMessage:
    valid, invalid = tool_calls(result)
    return AIMessage(
        content=result.content,
        tool_calls=valid,
        invalid_tool_calls=invalid,
        usage_metadata=usage_metadata(result),
        response_metadata=response_metadata(result),
        additional_kwargs={"parsed": result.parsed} if result.parsed is not None else {},
    )


def delta_chunk(delta: ToolCallDelta) -> AIMessageChunk:
    chunk = tool_call_chunk(name=delta.name, args=delta.arguments, id=delta.id, index=delta.index)
    return AIMessageChunk(content="", tool_call_chunks=[chunk])


def last_chunk(result: PreLLMResult, *, text_sent: bool, calls_sent: bool) -> AIMessageChunk:
    """The stream's closing chunk: usage (counted once, here), metadata, and whatever of
    the answer was not streamed (a structured answer arrives whole)."""
    calls: list[ToolCallChunk] = []
    if not calls_sent:
        calls = [
            tool_call_chunk(name=c.function.name, args=c.function.arguments, id=c.id, index=i)
            for i, c in enumerate(result.tool_calls)
        ]
    return AIMessageChunk(
        content="" if text_sent else result.content,
        tool_call_chunks=calls,
        usage_metadata=usage_metadata(result),
        response_metadata=response_metadata(result),
        additional_kwargs={"parsed": result.parsed} if result.parsed is not None else {},
        chunk_position="last",
    )
