"""A deterministic model for tests and dry runs, registered with litellm as ``test/``.

Like pydantic-ai's ``TestModel`` and ``FunctionModel``, it lets the whole engine
run without a network or weights:

* ``test/echo`` answers with the last user message; asked for JSON with a schema,
  it returns a valid instance built from the schema (enum values that occur in
  the user's text are preferred, so a query about deploying gets ``deploy``).
* ``test/invalid`` returns text that is not JSON whenever JSON is asked for.
* ``test/fail`` raises a provider error.
* ``test/tools`` behaves like a tool-calling model: offered tools and given a user
  turn, it calls the tool ``tool_choice`` names (else the first) with arguments built
  from that tool's JSON Schema; given tool results, it answers with them in text.
* ``test/<name>`` calls the function registered with ``register_function(name, fn)``;
  ``fn(messages, params)`` returns the reply text, or a dict ``{"content": ...,
  "tool_calls": [{"name": ..., "arguments": {...}}]}`` to call tools.

Every request is recorded (``recorded_requests()``) so tests can assert on
what a model received.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from litellm import CustomLLM
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from ..language import detect
from ..messages import text_of

Reply = str | dict[str, Any]  # text, or {"content": ..., "tool_calls": [{"name", "arguments"}]}
FunctionModel = Callable[[list[dict[str, Any]], dict[str, Any]], Reply]

_functions: dict[str, FunctionModel] = {}
_recorded: list[dict[str, Any]] = []
_lock = threading.Lock()


def register_function(name: str, fn: FunctionModel) -> str:
    """Register ``fn`` as ``test/<name>``; returns the model string to use."""
    _functions[name] = fn
    return f"test/{name}"


def recorded_requests(model: str | None = None) -> list[dict[str, Any]]:
    with _lock:
        return [r for r in _recorded if model is None or r["model"] == model]


def clear_recorded() -> None:
    with _lock:
        _recorded.clear()


def _last_user(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return text_of(m.get("content"))
    return ""


def _subject(text: str) -> str:
    """What an analysis prompt asks about: the text in its last triple quotes, else all of it."""
    quoted = re.findall(r'"""(.*?)"""', text, re.S)
    return quoted[-1] if quoted else text


def example_from_schema(schema: dict[str, Any], hint: str = "", key: str = "value") -> Any:
    """A deterministic instance of a JSON Schema (the subset preLLM emits).

    Strings are ``"<key> 1"``, ``"<key> 2"``...; an enum value that occurs in ``hint``
    is preferred, so asked about deploying, the test model answers intent ``deploy``.
    """
    low = hint.lower()
    if "enum" in schema:
        found = [v for v in schema["enum"] if isinstance(v, str) and v.lower() in low]
        return found[0] if found else schema["enum"][0]
    if "anyOf" in schema:
        non_null = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return example_from_schema(non_null[0] if non_null else schema["anyOf"][0], hint, key)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example_from_schema(v, hint, k) for k, v in props.items()}
    if kind == "array":
        n = max(1, min(2, schema.get("maxItems", 2)))
        items = schema.get("items", {})
        return [example_from_schema(items, hint, f"{key} {i}") for i in range(1, n + 1)]
    if kind == "number":
        return float(schema.get("maximum", 1.0)) * 0.9
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if key == "language":
        return "pl" if detect(hint) else "en"
    return key[: schema.get("maxLength", 80)]


def _tool_model(messages: list[dict[str, Any]], params: dict[str, Any]) -> Reply:
    """A scripted tool-calling model (see the module's docstring)."""
    last = messages[-1] if messages else {}
    if last.get("role") in ("tool", "function"):
        results = [
            text_of(m.get("content")) for m in messages if m.get("role") in ("tool", "function")
        ]
        return "Tool results: " + "; ".join(results[-4:])
    tools = [t["function"] for t in params.get("tools") or [] if isinstance(t, dict)]
    tools += [f for f in params.get("functions") or [] if isinstance(f, dict)]
    choice = params.get("tool_choice")
    if not tools or choice == "none":
        return _last_user(messages)
    wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    tool = next((t for t in tools if t.get("name") == wanted), tools[0])
    schema = tool.get("parameters") or {"type": "object", "properties": {}}
    args = example_from_schema(schema, _last_user(messages))
    return {"content": None, "tool_calls": [{"name": tool["name"], "arguments": args}]}


def _tool_calls(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """The reply's calls in OpenAI's shape, with ids a client can answer to."""
    return [
        {
            "id": f"call_{i}_{c['name']}",
            "type": "function",
            "function": {
                "name": c["name"],
                "arguments": c["arguments"]
                if isinstance(c["arguments"], str)
                else json.dumps(c["arguments"], ensure_ascii=False),
            },
        }
        for i, c in enumerate(reply.get("tool_calls") or [])
    ]


def _reply(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Reply:
    with _lock:
        _recorded.append({"model": f"test/{model}", "messages": messages, "params": params})
    rf = params.get("response_format") or {}
    wants_json = rf.get("type") in ("json_schema", "json_object")
    if model == "fail":
        raise CustomLLMError(status_code=503, message="test model configured to fail")
    if model in _functions:
        return _functions[model](messages, params)
    if model == "tools" and not wants_json:
        return _tool_model(messages, params)
    if model == "invalid" and wants_json:
        return "this is not JSON {"
    if wants_json:
        schema = (rf.get("json_schema") or {}).get("schema") or {"type": "object"}
        return json.dumps(
            example_from_schema(schema, _subject(_last_user(messages))), ensure_ascii=False
        )
    return _last_user(messages)


def _usage(messages: list[dict[str, Any]], text: str) -> tuple[int, int]:
    prompt = sum(len(text_of(m.get("content")).split()) for m in messages)
    return prompt, len(text.split())


class TestLLM(CustomLLM):
    def completion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response: ModelResponse,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ):  # type: ignore[override]  # noqa: E501
        reply = _reply(model, messages, dict(optional_params))
        text = reply if isinstance(reply, str) else reply.get("content") or ""
        message = model_response.choices[0].message  # type: ignore[union-attr]
        message.content = text if isinstance(reply, str) else reply.get("content")
        if isinstance(reply, dict) and reply.get("tool_calls"):
            from litellm.types.utils import ChatCompletionMessageToolCall

            message.tool_calls = [ChatCompletionMessageToolCall(**c) for c in _tool_calls(reply)]
            model_response.choices[0].finish_reason = "tool_calls"
        p, c = _usage(
            messages, text + json.dumps(_tool_calls(reply) if isinstance(reply, dict) else [])
        )
        model_response.usage = Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)  # type: ignore[attr-defined]
        return model_response

    async def acompletion(self, *args, **kwargs):  # type: ignore[override]
        return self.completion(*args, **kwargs)

    def streaming(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ) -> Iterator[GenericStreamingChunk]:  # type: ignore[override]  # noqa: E501
        reply = _reply(model, messages, dict(optional_params))
        text = reply if isinstance(reply, str) else reply.get("content") or ""
        calls = _tool_calls(reply) if isinstance(reply, dict) else []
        words = text.split(" ") if text else []
        for i, w in enumerate(words):
            yield {
                "text": w if i == 0 else " " + w,
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
                "tool_use": None,
            }
        for i, call in enumerate(calls):
            yield {
                "text": "",
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
                "tool_use": {**call, "index": i},  # type: ignore[typeddict-item]
            }
        p, c = _usage(messages, text + json.dumps(calls))
        yield {
            "text": "",
            "is_finished": True,
            "finish_reason": "tool_calls" if calls else "stop",
            "index": 0,
            "tool_use": None,
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
        }

    async def astreaming(self, *args, **kwargs) -> AsyncIterator[GenericStreamingChunk]:  # type: ignore[override]
        for chunk in self.streaming(*args, **kwargs):
            yield chunk

    def embedding(self, model, input, model_response, *args, **kwargs):  # type: ignore[override]
        """Deterministic unit vectors from each text's hash: equal texts, equal vectors."""
        dims = int((kwargs.get("optional_params") or {}).get("dimensions") or 8)
        model_response.data = [
            {"object": "embedding", "index": i, "embedding": _vector(str(text), dims)}
            for i, text in enumerate(input)
        ]
        tokens = sum(len(str(text).split()) for text in input)
        model_response.usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        return model_response

    async def aembedding(self, *args, **kwargs):  # type: ignore[override]
        return self.embedding(*args, **kwargs)


def _vector(text: str, dims: int) -> list[float]:
    import hashlib
    import math

    raw = hashlib.shake_256(text.encode()).digest(2 * dims)
    values = [int.from_bytes(raw[2 * i : 2 * i + 2], "big") / 32768 - 1 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
