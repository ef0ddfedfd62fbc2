"""``POST /v1/messages``: Anthropic's Messages API, preprocessed like chat, any large model.

Claude-style clients (the ``anthropic`` SDK, tools built on it) point at preLLM and
get any litellm model behind it. The body is translated to an OpenAI chat (system,
text and image blocks, ``tool_use``/``tool_result``), run by the engine, and the
result translated back, streamed as Anthropic's events (``message_start`` …
``message_stop``) when asked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import PreLLMError
from ..models import PreLLMResult, ToolCallDelta
from .errors import anthropic_body, from_prellm
from .schemas import PrellmOptions

STOP = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


class AnthropicTool(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    input_schema: dict[str, Any]


class AnthropicMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class MessagesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=512)
    messages: list[AnthropicMessage] = Field(min_length=1)
    max_tokens: int = Field(gt=0)
    system: str | list[dict[str, Any]] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: dict[str, Any] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    stream: bool = False
    metadata: dict[str, Any] | None = None
    prellm: PrellmOptions = Field(default_factory=PrellmOptions)


def _text(blocks: str | list[dict[str, Any]]) -> str:
    if isinstance(blocks, str):
        return blocks
    return "\n".join(b.get("text", "") for b in blocks if b.get("type") == "text")


def _user_parts(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for b in blocks:
        if b.get("type") == "text":
            parts.append({"type": "text", "text": b.get("text", "")})
        elif b.get("type") == "image" and (src := b.get("source") or {}).get("type") == "base64":
            url = f"data:{src.get('media_type')};base64,{src.get('data')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif b.get("type") == "image" and src.get("type") == "url":
            parts.append({"type": "image_url", "image_url": {"url": src.get("url")}})
    return parts


def _user(m: AnthropicMessage) -> list[dict[str, Any]]:
    """A user turn: tool results become tool messages, the rest one user message."""
    if isinstance(m.content, str):
        return [{"role": "user", "content": m.content}]
    out = [
        {
            "role": "tool",
            "tool_call_id": b.get("tool_use_id", ""),
            "content": b["content"]
            if isinstance(b.get("content"), str)
            else _text(b.get("content") or []),
        }
        for b in m.content
        if b.get("type") == "tool_result"
    ]
    parts = _user_parts([b for b in m.content if b.get("type") != "tool_result"])
    if parts:
        texts_only = all(p["type"] == "text" for p in parts)
        content = "\n".join(p["text"] for p in parts) if texts_only else parts
        out.append({"role": "user", "content": content})
    return out


def _assistant(m: AnthropicMessage) -> dict[str, Any]:
    if isinstance(m.content, str):
        return {"role": "assistant", "content": m.content}
    calls = [
        {
            "id": b.get("id", ""),
            "type": "function",
            "function": {"name": b.get("name", ""), "arguments": json.dumps(b.get("input") or {})},
        }
        for b in m.content
        if b.get("type") == "tool_use"
    ]
    msg: dict[str, Any] = {"role": "assistant", "content": _text(m.content) or None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def to_chat(req: MessagesRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The OpenAI chat and the large model's parameters for an Anthropic request."""
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": _text(req.system)})
    for m in req.messages:
        messages += _user(m) if m.role == "user" else [_assistant(m)]
    kwargs: dict[str, Any] = {"max_tokens": req.max_tokens}
    for name in ("temperature", "top_p", "top_k"):
        if (value := getattr(req, name)) is not None:
            kwargs[name] = value
    if req.stop_sequences:
        kwargs["stop"] = req.stop_sequences
    if req.tools:
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description or "",
                    "parameters": t.input_schema,
                },
            }
            for t in req.tools
        ]
    if req.tool_choice:
        kind = req.tool_choice.get("type")
        choice = {"auto": "auto", "any": "required", "none": "none"}.get(kind or "")
        if kind == "tool":
            kwargs["tool_choice"] = {
                "type": "function",
                "function": {"name": req.tool_choice.get("name")},
            }
        elif choice:
            kwargs["tool_choice"] = choice
    return messages, kwargs


def message(model: str, result: PreLLMResult) -> dict[str, Any]:
    """The Anthropic ``message`` for a result."""
    content: list[dict[str, Any]] = []
    if result.content:
        content.append({"type": "text", "text": result.content})
    for call in result.tool_calls:
        content.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.function.name,
                "input": _input(call.function.arguments),
            }
        )
    total = result.usage["total"]
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP.get(result.finish_reason or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": total.prompt_tokens, "output_tokens": total.completion_tokens},
        "prellm": {"strategy": result.strategy, "turn": result.turn, "notices": result.notices},
    }


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return {"_raw": arguments}


def _event(kind: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps({"type": kind, **data}, ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\ndata: {payload}\n\n".encode()


class _Blocks:
    """Content blocks of a streamed message, opened and closed in order."""

    def __init__(self) -> None:
        self.index = -1
        self.kind: str | None = None
        self.tool: int | None = None

    def open(self, kind: str, block: dict[str, Any], tool: int | None = None) -> list[bytes]:
        out = self.close()
        self.index, self.kind, self.tool = self.index + 1, kind, tool
        return [*out, _event("content_block_start", {"index": self.index, "content_block": block})]

    def close(self) -> list[bytes]:
        if self.kind is None:
            return []
        self.kind = None
        return [_event("content_block_stop", {"index": self.index})]


def _piece(blocks: _Blocks, event: Any) -> list[bytes]:
    if isinstance(event, str):
        out = [] if blocks.kind == "text" else blocks.open("text", {"type": "text", "text": ""})
        return [
            *out,
            _event(
                "content_block_delta",
                {"index": blocks.index, "delta": {"type": "text_delta", "text": event}},
            ),
        ]
    if isinstance(event, ToolCallDelta):
        out = []
        if blocks.kind != "tool" or blocks.tool != event.index:
            block = {
                "type": "tool_use",
                "id": event.id or "",
                "name": event.name or "",
                "input": {},
            }
            out = blocks.open("tool", block, event.index)
        if event.arguments:
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            out.append(_event("content_block_delta", {"index": blocks.index, "delta": delta}))
        return out
    return []


async def stream(model: str, first: Any, events: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """Anthropic's event stream for a request's events."""
    msg: dict[str, Any] = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    yield _event("message_start", {"message": msg})
    blocks, event = _Blocks(), first
    try:
        while True:
            if isinstance(event, PreLLMResult):
                for data in blocks.close():
                    yield data
                total = event.usage["total"]
                delta = {
                    "stop_reason": STOP.get(event.finish_reason or "stop", "end_turn"),
                    "stop_sequence": None,
                }
                yield _event(
                    "message_delta",
                    {
                        "delta": delta,
                        "usage": {
                            "input_tokens": total.prompt_tokens,
                            "output_tokens": total.completion_tokens,
                        },
                    },
                )
            else:
                for data in _piece(blocks, event):
                    yield data
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                break
    except PreLLMError as exc:
        err = from_prellm(exc)
        yield _event("error", {"error": anthropic_body(err.status, err.message)["error"]})
        return
    yield _event("message_stop", {})
