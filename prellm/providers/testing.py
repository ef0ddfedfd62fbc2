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
  from that tool's JSON Schema (numbers and quoted phrases of the user's text fill its
  number and string fields, in order); given tool results, it answers with them in text.
* Asked for a JSON object without a schema (``response_format`` ``json_object``), a
  model answers an object whose keys are the names quoted in the user's text.
* ``test/<name>`` calls the function registered with ``register_function(name, fn)``;
  ``fn(messages, params)`` returns the reply text, or a dict ``{"content": ...,
  "tool_calls": [{"name": ..., "arguments": {...}}]}`` to call tools.

Every request is recorded (``recorded_requests()``) so tests can assert on
what a model received.

This module does not import litellm (the CLI calls it directly); the litellm
handler, ``TestLLM``, lives in ``testing_litellm``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

from ..errors import ProviderError
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


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_QUOTED = re.compile(r"(?<!\w)'([^'\n]+)'(?!\w)|\"([^\"\n]+)\"")


def _quoted(text: str) -> list[str]:
    return [a or b for a, b in _QUOTED.findall(text)]


def arguments_from_text(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Tool arguments as a model would write them from ``text``: its numbers fill the
    number fields and its quoted phrases the free string fields, in order; the rest
    comes from the schema (``example_from_schema``)."""
    numbers = [float(n) for n in _NUMBER.findall(text)]
    quoted = _quoted(text)
    args: dict[str, Any] = {}
    for key, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type")
        if kind in ("integer", "number") and numbers:
            n = numbers.pop(0)
            args[key] = int(n) if kind == "integer" else n
        elif kind == "string" and "enum" not in spec and quoted:
            args[key] = quoted.pop(0)
        else:
            args[key] = example_from_schema(spec, text, key)
    return args


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
    args = arguments_from_text(schema, _last_user(messages))
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
        raise ProviderError("test/fail", "test model configured to fail", status_code=503)
    if model in _functions:
        return _functions[model](messages, params)
    if model == "tools" and not wants_json:
        return _tool_model(messages, params)
    if model == "invalid" and wants_json:
        return "this is not JSON {"
    if rf.get("type") == "json_object" and (keys := _quoted(_last_user(messages))):
        return json.dumps({k: k for k in keys}, ensure_ascii=False)
    if wants_json:
        schema = (rf.get("json_schema") or {}).get("schema") or {"type": "object"}
        return json.dumps(
            example_from_schema(schema, _subject(_last_user(messages))), ensure_ascii=False
        )
    return _last_user(messages)


def _usage(messages: list[dict[str, Any]], text: str) -> tuple[int, int]:
    prompt = sum(len(text_of(m.get("content")).split()) for m in messages)
    return prompt, len(text.split())


def _vector(text: str, dims: int) -> list[float]:
    import hashlib
    import math

    raw = hashlib.shake_256(text.encode()).digest(2 * dims)
    values = [int.from_bytes(raw[2 * i : 2 * i + 2], "big") / 32768 - 1 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
