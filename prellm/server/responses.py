"""``POST /v1/responses``: OpenAI's Responses API, preprocessed like chat.

``input`` (text or a list of items: messages, ``function_call`` and
``function_call_output``), ``instructions`` and function ``tools`` are translated
to a chat; the result comes back as a ``response`` with ``message`` and
``function_call`` output items, or streamed as the Responses event types. The
proxy is stateless: ``previous_response_id`` is refused (send the whole input).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import PreLLMError
from ..models import PreLLMResult, ToolCallDelta
from .errors import from_prellm
from .schemas import PrellmOptions


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=512)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(None, gt=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool = False
    store: bool | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    prellm: PrellmOptions = Field(default_factory=PrellmOptions)


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    parts = []
    for p in content or []:
        kind = p.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": p.get("text", "")})
        elif kind == "input_image" and p.get("image_url"):
            parts.append({"type": "image_url", "image_url": {"url": p["image_url"]}})
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _item(item: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role", "user")
        messages.append(
            {
                "role": "system" if role == "developer" else role,
                "content": _content(item.get("content")),
            }
        )
    elif kind == "function_call":
        call = {
            "id": item.get("call_id", ""),
            "type": "function",
            "function": {"name": item.get("name", ""), "arguments": item.get("arguments", "")},
        }
        last = messages[-1] if messages else None
        if last and last["role"] == "assistant" and last.get("tool_calls") is not None:
            last["tool_calls"].append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        messages.append(
            {
                "role": "tool",
                "tool_call_id": item.get("call_id", ""),
                "content": output if isinstance(output, str) else json.dumps(output),
            }
        )


def to_chat(req: ResponsesRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    if isinstance(req.input, str):
        messages.append({"role": "user", "content": req.input})
    else:
        for item in req.input:
            _item(item, messages)
    kwargs: dict[str, Any] = {}
    if req.max_output_tokens:
        kwargs["max_tokens"] = req.max_output_tokens
    for name in ("temperature", "top_p", "parallel_tool_calls", "store", "metadata"):
        if (value := getattr(req, name)) is not None:
            kwargs[name] = value
    if req.tools:
        unsupported = [t.get("type") for t in req.tools if t.get("type") != "function"]
        if unsupported:
            from .errors import HTTPError

            raise HTTPError(
                400,
                f"tools of type {unsupported[0]!r} are not supported; use function tools",
                code="unsupported_parameter",
            )
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {
                    k: t[k] for k in ("name", "description", "parameters", "strict") if k in t
                },
            }
            for t in req.tools
        ]
    if isinstance(req.tool_choice, str):
        kwargs["tool_choice"] = req.tool_choice
    elif isinstance(req.tool_choice, dict) and req.tool_choice.get("name"):
        kwargs["tool_choice"] = {"type": "function", "function": {"name": req.tool_choice["name"]}}
    return messages, kwargs


def _output(result: PreLLMResult) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if result.content:
        items.append(
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex[:20]}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": result.content, "annotations": []}],
            }
        )
    for call in result.tool_calls:
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{uuid.uuid4().hex[:20]}",
                "call_id": call.id,
                "name": call.function.name,
                "arguments": call.function.arguments,
                "status": "completed",
            }
        )
    return items


def response(
    model: str, result: PreLLMResult | None, rid: str, status: str = "completed"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": _output(result) if result else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
    }
    if result is not None:
        total = result.usage["total"]
        body["usage"] = {
            "input_tokens": total.prompt_tokens,
            "output_tokens": total.completion_tokens,
            "total_tokens": total.total_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        body["prellm"] = {
            "strategy": result.strategy,
            "turn": result.turn,
            "notices": result.notices,
        }
    return body


class _Events:
    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, kind: str, **data: Any) -> bytes:
        self.seq += 1
        payload = json.dumps(
            {"type": kind, "sequence_number": self.seq, **data},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return f"event: {kind}\ndata: {payload}\n\n".encode()


async def stream(model: str, first: Any, events: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """The Responses event stream: created, text and function-call deltas, completed."""
    ev, rid = _Events(), f"resp_{uuid.uuid4().hex[:24]}"
    yield ev("response.created", response=response(model, None, rid, "in_progress"))
    text_item, calls, event = None, {}, first
    try:
        while True:
            if isinstance(event, str):
                if text_item is None:
                    text_item = f"msg_{uuid.uuid4().hex[:20]}"
                    yield ev(
                        "response.output_item.added",
                        output_index=0,
                        item={
                            "type": "message",
                            "id": text_item,
                            "status": "in_progress",
                            "role": "assistant",
                            "content": [],
                        },
                    )
                    yield ev(
                        "response.content_part.added",
                        item_id=text_item,
                        output_index=0,
                        content_index=0,
                        part={"type": "output_text", "text": "", "annotations": []},
                    )
                yield ev(
                    "response.output_text.delta",
                    item_id=text_item,
                    output_index=0,
                    content_index=0,
                    delta=event,
                )
            elif isinstance(event, ToolCallDelta):
                index = 1 + event.index
                if event.index not in calls:
                    calls[event.index] = f"fc_{uuid.uuid4().hex[:20]}"
                    item = {
                        "type": "function_call",
                        "id": calls[event.index],
                        "call_id": event.id or "",
                        "name": event.name or "",
                        "arguments": "",
                        "status": "in_progress",
                    }
                    yield ev("response.output_item.added", output_index=index, item=item)
                if event.arguments:
                    yield ev(
                        "response.function_call_arguments.delta",
                        item_id=calls[event.index],
                        output_index=index,
                        delta=event.arguments,
                    )
            elif isinstance(event, PreLLMResult):
                done = response(model, event, rid)
                for i, item in enumerate(done["output"]):
                    yield ev("response.output_item.done", output_index=i, item=item)
                yield ev("response.completed", response=done)
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                break
    except PreLLMError as exc:
        err = from_prellm(exc)
        yield ev("error", code=err.code, message=err.message, param=None)
