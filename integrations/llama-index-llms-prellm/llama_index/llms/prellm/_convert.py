"""LlamaIndex chat messages to OpenAI-style dicts (what preLLM takes) and preLLM's
results back to LlamaIndex responses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from prellm import PreLLMResult, ToolCallDelta

_ROLES = {"chatbot": "assistant", "model": "assistant"}


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    return [_to_openai(m) for m in messages]


def _to_openai(message: ChatMessage) -> dict[str, Any]:
    role = _ROLES.get(message.role.value, message.role.value)
    text = "".join(b.text for b in message.blocks if isinstance(b, TextBlock))
    out: dict[str, Any] = {"role": role, "content": text}
    calls = _openai_calls(message)
    if calls:
        out["tool_calls"] = calls
        out["content"] = text or None
    if role == "tool":
        out["tool_call_id"] = message.additional_kwargs.get("tool_call_id", "")
    if name := message.additional_kwargs.get("name"):
        out["name"] = name
    return out


def _openai_calls(message: ChatMessage) -> list[dict[str, Any]]:
    """An assistant turn's tool calls: its ToolCallBlocks, else OpenAI-shaped kwargs."""
    blocks = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if blocks:
        return [
            {
                "id": b.tool_call_id or f"call_{i}",
                "type": "function",
                "function": {
                    "name": b.tool_name,
                    "arguments": b.tool_kwargs
                    if isinstance(b.tool_kwargs, str)
                    else json.dumps(b.tool_kwargs, ensure_ascii=False),
                },
            }
            for i, b in enumerate(blocks)
        ]
    raw = message.additional_kwargs.get("tool_calls") or []
    return [c if isinstance(c, dict) else c.model_dump() for c in raw]


def _arguments(text: str) -> dict[str, Any] | str:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return text  # not JSON (yet): kept as the model wrote it
    return value if isinstance(value, dict) else text


def assistant_message(text: str, calls: Sequence[tuple[str | None, str, str]]) -> ChatMessage:
    """An assistant turn of ``text`` and ``(id, name, arguments JSON)`` calls."""
    blocks: list[Any] = [TextBlock(text=text)] if text else []
    blocks += [
        ToolCallBlock(tool_call_id=i, tool_name=n, tool_kwargs=_arguments(a)) for i, n, a in calls
    ]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


def usage(result: PreLLMResult) -> dict[str, int]:
    total = result.usage["total"]
    return {
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "total_tokens": total.prompt_tokens + total.completion_tokens,
    }


def raw(result: PreLLMResult) -> dict[str, Any]:
    """The whole PreLLMResult; ``usage`` is the total of both stages (what LlamaIndex's
    token counter reads), ``usage_by_stage`` the per-stage counts."""
    out: dict[str, Any] = result.model_dump(mode="json")
    out["usage_by_stage"] = out.pop("usage")
    out["usage"] = usage(result)
    return out


def details(result: PreLLMResult) -> dict[str, Any]:
    """What preLLM did, for ``ChatResponse.additional_kwargs``."""
    d = result.decomposition
    return {
        **usage(result),
        "model": result.model_used,
        "small_model": result.small_model_used,
        "strategy": result.strategy,
        "intent": d.intent,
        "missing": list(d.missing),
        "fallback_reason": d.fallback_reason,
        "decomposition": d.model_dump(exclude_none=True),
        "cost_usd": result.cost_usd["total"],
        "timings_ms": result.timings_ms,
        "finish_reason": result.finish_reason,
    }


def chat_response(result: PreLLMResult) -> ChatResponse:
    calls = [(c.id, c.function.name, c.function.arguments) for c in result.tool_calls]
    return ChatResponse(
        message=assistant_message(result.content, calls),
        raw=raw(result),
        additional_kwargs=details(result),
    )


class StreamState:
    """The answer so far while streaming: text and tool calls assembled from deltas."""

    def __init__(self) -> None:
        self.text = ""
        self.calls: dict[int, list[Any]] = {}

    def add_delta(self, delta: ToolCallDelta) -> None:
        call = self.calls.setdefault(delta.index, [None, "", ""])
        call[0] = delta.id or call[0]
        call[1] = delta.name or call[1]
        call[2] += delta.arguments

    def response(self, delta: str) -> ChatResponse:
        calls = [tuple(c) for _, c in sorted(self.calls.items())]
        return ChatResponse(message=assistant_message(self.text, calls), delta=delta)

    def last(self, result: PreLLMResult) -> ChatResponse:
        """The closing response: the final answer, usage and what preLLM did."""
        done = chat_response(result)
        done.delta = "" if self.text else result.content
        return done
