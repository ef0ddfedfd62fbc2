"""The ``local/`` provider without its model: what can be checked with no GGUF loaded.

Tool calls written as JSON text, the runtime's error texts, llama.cpp's stream chunks
translated for litellm, filling litellm's response, and the handler's entry points
reporting a model file that does not exist. The llama.cpp runtime is never started.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from litellm.types.utils import ModelResponse

from prellm import providers
from prellm.errors import ConfigError, ProviderError
from prellm.providers.embedded import EmbeddedRuntime, tool_call_in_text
from prellm.providers.embedded_litellm import EmbeddedLLM, _checked, _generic
from prellm.providers.model_files import INSTALL_HINT

MSGS = [{"role": "user", "content": "Scale web to 3"}]
MISSING_GGUF = "local//nonexistent/prellm-test/model.gguf"
TOOLS = [
    {"type": "function", "function": {"name": "scale", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_pods", "parameters": {"type": "object"}}},
]


# --- a tool call written as text ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "scale", "arguments": {"replicas": 3}}',
        '```json\n{"name": "scale", "arguments": {"replicas": 3}}\n```',
        '  ```\n{"name": "scale", "parameters": {"replicas": 3}}```  ',
    ],
)
def test_a_json_call_of_an_offered_tool_is_a_call(text):
    call = tool_call_in_text(text, TOOLS)
    assert call is not None and call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "scale"
    assert json.loads(call["function"]["arguments"]) == {"replicas": 3}


def test_string_arguments_are_kept_as_written_and_missing_ones_are_empty():
    call = tool_call_in_text('{"name": "get_pods", "arguments": "{\\"ns\\": \\"prod\\"}"}', TOOLS)
    assert call["function"]["arguments"] == '{"ns": "prod"}'
    bare = tool_call_in_text('{"name": "get_pods"}', TOOLS)
    assert bare["function"]["arguments"] == "{}"


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        ('{"name": "scale", "arguments": {}}', None),  # no tools offered
        ('{"name": "scale", "arguments": {}}', []),
        ('{"name": "delete_cluster", "arguments": {}}', TOOLS),  # not offered
        ('{"name": "scale", "arguments": {', TOOLS),  # cut short
        ('{"name": scale}', TOOLS),  # looks like JSON, is not
        ("Scale it with {replicas: 3} please", TOOLS),  # prose around it
        ("", TOOLS),
    ],
)
def test_anything_else_stays_text(text, tools):
    assert tool_call_in_text(text, tools) is None


# --- the runtime without xllamacpp -----------------------------------------------------------


def test_without_the_runtime_installed_loading_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # the package is absent
    with pytest.raises(ConfigError, match="xllamacpp") as info:
        EmbeddedRuntime(tmp_path / "m.gguf")
    assert INSTALL_HINT in str(info.value) and info.value.exit_code == 2


# --- llama.cpp's chunks as litellm's ----------------------------------------------------------


def _chunk(content=None, finish=None, usage=None, choices=True) -> dict:
    out: dict = {"choices": []}
    if choices:
        delta = {} if content is None else {"content": content}
        out["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage is not None:
        out["usage"] = usage
    return out


def test_text_chunks_carry_their_text_and_are_not_the_end():
    assert _generic(_chunk("Hel")) == {
        "text": "Hel",
        "is_finished": False,
        "finish_reason": "",
        "index": 0,
        "tool_use": None,
        "usage": None,
    }


def test_the_finish_chunk_is_not_the_end_the_usage_chunk_is():
    finish = _generic(_chunk(finish="length"))
    assert finish["finish_reason"] == "length" and not finish["is_finished"]
    last = _generic(_chunk(choices=False, usage={"prompt_tokens": 7, "completion_tokens": 2}))
    assert last["is_finished"] and last["finish_reason"] == "stop"
    assert last["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 0}


def test_chunks_with_nothing_to_say_are_skipped():
    assert _generic(_chunk()) is None  # the role-only first chunk
    assert _generic(_chunk("")) is None
    assert _generic(_chunk(choices=False)) is None
    assert _generic({"choices": [{"index": 0}]}) is None


def test_checked_passes_chunks_and_raises_failures():
    assert _checked("m.gguf", _chunk("Hi"))["text"] == "Hi"
    assert _checked("m.gguf", _chunk()) is None
    with pytest.raises(ProviderError, match="context size exceeded") as info:
        _checked("m.gguf", {"error": {"code": 500, "message": "context size exceeded"}})
    assert info.value.model == "local/m.gguf"
    with pytest.raises(ProviderError, match="'code': 400"):
        _checked("m.gguf", {"error": {"code": 400}})  # no message: the whole error
    with pytest.raises(ProviderError, match="unexpected response from llama.cpp: .*boom"):
        _checked("m.gguf", {"error": "boom"})
    with pytest.raises(MemoryError):
        _checked("m.gguf", MemoryError("the generating thread failed"))


# --- filling litellm's response ----------------------------------------------------------------


def _out(message: dict, finish: str | None = "stop", usage: dict | None = None) -> dict:
    return {
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def test_fill_copies_text_finish_and_usage():
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    r = EmbeddedLLM()._fill(ModelResponse(), _out({"content": "Hi there"}, "length", usage))
    assert r.choices[0].message.content == "Hi there"
    assert r.choices[0].finish_reason == "length"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (12, 3, 15)


def test_fill_without_usage_or_finish_counts_zero_and_stops():
    r = EmbeddedLLM()._fill(ModelResponse(), _out({"content": None}, None))
    assert r.choices[0].message.content == "" and r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 0 and r.usage.completion_tokens == 0


def test_fill_keeps_the_templates_tool_calls():
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "scale", "arguments": "{}"}},
    ]
    r = EmbeddedLLM()._fill(ModelResponse(), _out({"content": None, "tool_calls": calls}), TOOLS)
    assert r.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in r.choices[0].message.tool_calls] == ["scale"]


def test_fill_turns_a_json_call_in_text_into_a_tool_call():
    text = '{"name": "get_pods", "arguments": {"ns": "prod"}}'
    r = EmbeddedLLM()._fill(ModelResponse(), _out({"content": text}), TOOLS)
    assert r.choices[0].message.content == "" and r.choices[0].finish_reason == "tool_calls"
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "get_pods" and json.loads(call.function.arguments) == {
        "ns": "prod"
    }
    plain = EmbeddedLLM()._fill(ModelResponse(), _out({"content": text}), None)
    assert plain.choices[0].message.content == text  # no tools offered: text


# --- litellm's entry points for a model file that does not exist -------------------------------


def test_litellm_calls_to_a_missing_model_file_report_it():
    ll = providers.litellm()
    model = MISSING_GGUF
    with pytest.raises(Exception, match="GGUF file not found"):
        ll.completion(model=model, messages=MSGS)
    with pytest.raises(Exception, match="GGUF file not found"):
        for _ in ll.completion(model=model, messages=MSGS, stream=True):
            pass

    async def calls() -> None:
        with pytest.raises(Exception, match="GGUF file not found"):
            await ll.acompletion(model=model, messages=MSGS)
        with pytest.raises(Exception, match="GGUF file not found"):
            async for _ in await ll.acompletion(model=model, messages=MSGS, stream=True):
                pass

    asyncio.run(calls())


def test_our_calls_to_a_missing_model_file_fail_fast_as_config_errors():
    with pytest.raises(ConfigError, match="GGUF file not found") as info:
        asyncio.run(providers.acomplete(MISSING_GGUF, MSGS))
    assert info.value.exit_code == 2
    check = asyncio.run(providers.check_model(MISSING_GGUF, 1))
    assert check["ok"] is False and "GGUF file not found" in check["detail"]


# --- one-line JSON for schema-constrained replies ------------------------------------------------

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}


def test_a_json_schema_request_gets_a_one_line_grammar():
    from prellm.providers.embedded import compact_json

    req = {
        "messages": MSGS,
        "max_tokens": 9,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}},
    }
    out = compact_json(req)
    assert "response_format" not in out and out["max_tokens"] == 9
    grammar = out["grammar"]
    assert grammar.startswith("%llguidance")
    compiled = json.loads(grammar.split("%json", 1)[1])
    assert compiled["x-guidance"]["whitespace_flexible"] is False
    assert compiled["x-guidance"]["key_separator"] == ": "
    assert compiled["required"] == ["a"]
    assert "grammar" not in req  # the caller's request is not changed


@pytest.mark.parametrize(
    "req",
    [
        {"messages": MSGS},
        {"messages": MSGS, "response_format": {"type": "json_object"}},
        {"messages": MSGS, "response_format": {"type": "json_schema", "json_schema": {}}},
        {
            "messages": MSGS,
            "tools": TOOLS,
            "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
        },
    ],
)
def test_other_requests_are_left_to_llama_cpp(req):
    from prellm.providers.embedded import compact_json

    assert compact_json(req) is req


@pytest.mark.parametrize(
    ("out", "json_reply"),
    [
        ({"choices": [{"message": {"content": '{"a": "x"}'}, "finish_reason": "stop"}]}, True),
        ({"choices": [{"message": {"content": "Hello!"}, "finish_reason": "stop"}]}, False),
        ({"choices": [{"message": {"content": "[1]"}, "finish_reason": "stop"}]}, True),
        ({"choices": [{"message": {"content": "{'a': 1}"}, "finish_reason": "stop"}]}, False),
        ({"choices": [{"message": {"content": '{"a": "x'}, "finish_reason": "length"}]}, True),
        ({"error": {"message": "bad"}}, True),  # reported as it is, not asked again
    ],
)
def test_what_counts_as_a_json_reply(out, json_reply):
    from prellm.providers.embedded import _json_reply

    assert _json_reply(out) is json_reply


def test_a_reply_left_free_by_llguidance_is_asked_again_under_llama_cpps_grammar():
    from prellm.providers.embedded import one_line_json

    req = {
        "messages": MSGS,
        "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
    }
    seen: list[dict] = []

    def run(request: dict) -> dict:  # a runtime whose one-line grammar did not apply
        seen.append(request)
        text = "Hello!" if "grammar" in request else '{\n  "a": "x"\n}'
        return {"choices": [{"message": {"content": text}, "finish_reason": "stop"}]}

    out = one_line_json(req, run)
    assert out["choices"][0]["message"]["content"] == '{\n  "a": "x"\n}'
    assert ["grammar" in r for r in seen] == [True, False] and seen[1] is req

    seen.clear()
    plain = {"messages": MSGS}
    one_line_json(plain, run)
    assert seen == [plain]  # no schema: run once, as it came
