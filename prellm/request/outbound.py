"""Everything that leaves the machine, redacted: every message field and every parameter.

Message text, a message's ``name`` and extra keys, image URLs, the arguments of
assistant tool calls, and the parameters that carry text (tool and function
definitions, ``stop``, ``response_format``, ``metadata``, ``prediction``, ``user``).
In JSON Schemas only human text is redacted, never property names, patterns or
enums; tool-call arguments are JSON, redacted as JSON and kept valid.
"""

from __future__ import annotations

import json
from typing import Any

from ..safety import SensitiveDataFilter

_KNOWN = {"role", "content", "name", "tool_calls", "function_call", "tool_call_id"}


def redact_messages(
    guard: SensitiveDataFilter, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [_message(guard, m) for m in messages]


def _message(guard: SensitiveDataFilter, m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m["role"], "content": _content(guard, m.get("content"))}
    if isinstance(m.get("name"), str):
        out["name"] = guard.redact(m["name"])
    if "tool_call_id" in m:
        out["tool_call_id"] = m["tool_call_id"]
    if m.get("tool_calls"):
        out["tool_calls"] = [_call(guard, c) for c in m["tool_calls"]]
    if isinstance(m.get("function_call"), dict):
        out["function_call"] = _function(guard, m["function_call"])
    for key, value in m.items():
        if key not in _KNOWN:
            out[key] = guard.redact_json(value)
    if "content" not in m:
        del out["content"]
    return out


def _content(guard: SensitiveDataFilter, content: Any) -> Any:
    if isinstance(content, str):
        return guard.redact(content)
    if not isinstance(content, list):
        return content
    parts = []
    for p in content:
        if (
            isinstance(p, dict)
            and p.get("type", "text") == "text"
            and isinstance(p.get("text"), str)
        ):
            parts.append(
                {
                    **guard.redact_json({k: v for k, v in p.items() if k != "text"}),
                    "text": guard.redact(p["text"]),
                }
            )
        else:
            parts.append(guard.redact_json(p))  # image URLs (signed ones too), audio, files
    return parts


def _function(guard: SensitiveDataFilter, fn: dict[str, Any]) -> dict[str, Any]:
    out = dict(fn)
    if isinstance(fn.get("arguments"), str):
        out["arguments"] = redact_json_text(guard, fn["arguments"])
    return out


def _call(guard: SensitiveDataFilter, call: Any) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return guard.redact_json(call)
    return {**call, "function": _function(guard, call["function"])}


def redact_json_text(guard: SensitiveDataFilter, text: str) -> str:
    """JSON text with its string values redacted (still valid JSON); other text as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return guard.redact(text)
    return json.dumps(guard.redact_json(value), ensure_ascii=False)


def _definition(guard: SensitiveDataFilter, fn: dict[str, Any]) -> dict[str, Any]:
    out = dict(fn)
    if isinstance(fn.get("description"), str):
        out["description"] = guard.redact(fn["description"])
    if isinstance(fn.get("parameters"), dict):
        out["parameters"] = guard.redact_schema(fn["parameters"])
    return out


def redact_params(guard: SensitiveDataFilter, params: dict[str, Any]) -> dict[str, Any]:
    """The large model's parameters with the text they carry redacted."""
    out = dict(params)
    if isinstance(params.get("tools"), list):
        out["tools"] = [
            {**t, "function": _definition(guard, t["function"])}
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
            else t
            for t in params["tools"]
        ]
    if isinstance(params.get("functions"), list):
        out["functions"] = [
            _definition(guard, f) if isinstance(f, dict) else f for f in params["functions"]
        ]
    stop = params.get("stop")
    if isinstance(stop, str):
        out["stop"] = guard.redact(stop)
    elif isinstance(stop, list):
        out["stop"] = [guard.redact(s) if isinstance(s, str) else s for s in stop]
    rf = params.get("response_format")
    if isinstance(rf, dict) and isinstance(rf.get("json_schema"), dict):
        js = dict(rf["json_schema"])
        if isinstance(js.get("schema"), dict):
            js["schema"] = guard.redact_schema(js["schema"])
        if isinstance(js.get("description"), str):
            js["description"] = guard.redact(js["description"])
        out["response_format"] = {**rf, "json_schema": js}
    for key in ("metadata", "prediction"):
        if key in params:
            out[key] = guard.redact_json(params[key])
    if isinstance(params.get("user"), str):
        out["user"] = guard.redact(params["user"])
    return out
