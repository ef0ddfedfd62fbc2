"""Calls through litellm: provider plugins, our ``test/`` handler, errors and odd answers.

Remote models are the recording server on 127.0.0.1 or litellm's own
``mock_response``; plugins are real entry points of a distribution put on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
import textwrap
import time

import pytest
from litellm.types.utils import Choices, Message, ModelResponse

from prellm import providers
from prellm.errors import ConfigError, ProviderError, ProviderTimeoutError
from prellm.providers import direct
from prellm.providers.direct import serve_complete
from prellm.providers.resolve import (
    DEFAULT_LOCAL_MODEL,
    NO_MODEL_HINT,
    embedded_installed,
    resolve_models,
)

MSGS = [{"role": "user", "content": "Deploy the app to production"}]
LARGE = "openai/big-model"


def _run(coro):
    return asyncio.run(coro)


async def _collect(gen) -> list:
    return [piece async for piece in gen]


@pytest.fixture(autouse=True)
def _through_litellm(monkeypatch):
    """Every call here goes through litellm (the library's path, not the CLI's)."""
    monkeypatch.setitem(direct._state, "on", False)
    monkeypatch.setitem(direct._state, "backend", None)


# --- provider plugins ----------------------------------------------------------------------------

PLUGIN = """
from prellm.providers.litellm_handler import Call, Handler


class Plug(Handler):
    def answer(self, call: Call):
        call.response.choices[0].message.content = "plugin answered " + call.model
        return call.response

    def chunks(self, call: Call):
        for word in ("plugin", " streamed"):
            yield {"text": word, "is_finished": False, "finish_reason": "", "index": 0,
                   "tool_use": None, "usage": None}
        yield {"text": "", "is_finished": True, "finish_reason": "stop", "index": 0,
               "tool_use": None, "usage": None}


def good():
    return ("covplug", Plug())


def broken():
    raise RuntimeError("the plugin is broken")
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A distribution with two ``prellm.providers`` entry points, one of them broken."""
    (tmp_path / "prellm_cov_plugin.py").write_text(PLUGIN)
    info = tmp_path / "prellm_cov_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: prellm-cov-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [prellm.providers]
            covplug = prellm_cov_plugin:good
            broken = prellm_cov_plugin:broken
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "prellm_cov_plugin", raising=False)
    monkeypatch.setattr(providers, "_litellm", None)  # litellm is set up again, plugins found
    yield
    sys.modules.pop("prellm_cov_plugin", None)


def test_a_plugin_provider_answers_and_a_broken_one_is_skipped(plugin, caplog):
    with caplog.at_level(logging.WARNING, logger="prellm.providers"):
        c = _run(providers.acomplete("covplug/any-model", MSGS))
    assert c.content.startswith("plugin answered") and c.finish_reason == "stop"
    assert "provider plugin broken failed to load: the plugin is broken" in caplog.text
    pieces = _run(_collect(providers.astream("covplug/any-model", MSGS)))
    assert pieces[:-1] == ["plugin", " streamed"]
    done = pieces[-1]
    assert done.content == "plugin streamed"
    assert done.prompt_tokens > 0 and done.completion_tokens > 0  # litellm counted them
    # our own providers are still registered next to it
    assert _run(providers.acomplete("test/echo", MSGS)).content == MSGS[0]["content"]


def test_the_plugin_handler_answers_litellms_sync_calls_too(plugin):
    ll = providers.litellm()
    r = ll.completion(model="covplug/m", messages=MSGS)
    assert r.choices[0].message.content.startswith("plugin answered")
    text = "".join(
        c.choices[0].delta.content or ""
        for c in ll.completion(model="covplug/m", messages=MSGS, stream=True)
    )
    assert text == "plugin streamed"


# --- the test/ handler through litellm --------------------------------------------------------------


def test_the_test_model_answers_litellms_sync_calls():
    ll = providers.litellm()
    tools = [
        {"type": "function", "function": {"name": "get_pods", "parameters": {"type": "object"}}}
    ]
    r = ll.completion(model="test/tools", messages=MSGS, tools=tools)
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.name == "get_pods"
    streamed = ll.completion(model="test/echo", messages=MSGS, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == MSGS[0]["content"]


def test_a_failing_test_model_is_a_provider_error_with_its_status():
    with pytest.raises(ProviderError) as info:
        _run(providers.acomplete("test/fail", MSGS))
    assert info.value.status_code == 503 and "configured to fail" in info.value.cause


def test_test_embeddings_are_unit_vectors_equal_for_equal_texts():
    body = _run(
        providers.araw("embedding", "test/embed", input=["same text", "other", "same text"])
    )
    vectors = [d["embedding"] for d in body["data"]]
    assert vectors[0] == vectors[2] != vectors[1]
    assert all(math.isclose(sum(v * v for v in vec), 1.0) for vec in vectors)
    assert body["usage"]["prompt_tokens"] == 5 and body["_cost_usd"] == 0.0
    sync = providers.litellm().embedding(model="test/embed", input=["same text"])
    assert sync.data[0]["embedding"] == vectors[0]


# --- errors and deadlines ------------------------------------------------------------------------------


def test_an_unknown_model_is_a_config_error_with_the_fix():
    with pytest.raises(ConfigError, match="unknown model 'no-such-model'") as info:
        _run(providers.acomplete("no-such-model", MSGS, metadata={"team": "a"}))
    assert info.value.exit_code == 2 and DEFAULT_LOCAL_MODEL in str(info.value)


def test_a_passed_deadline_fails_before_reaching_the_provider(provider, remote):
    past = time.monotonic() - 1
    with pytest.raises(ProviderTimeoutError, match="deadline passed"):
        _run(providers.acomplete(LARGE, MSGS, deadline=past, **remote))
    with pytest.raises(ProviderTimeoutError, match="deadline passed"):
        _run(_collect(providers.astream(LARGE, MSGS, deadline=past, **remote)))
    with pytest.raises(ProviderTimeoutError, match="deadline passed") as info:
        _run(providers.araw("embedding", "openai/embed", deadline=past, input=["a"], **remote))
    assert info.value.status_code == 504
    assert provider.requests == []


def test_a_stream_whose_provider_reports_no_usage_is_counted_with_the_tokenizer(provider, remote):
    provider.usage = {"prompt_tokens": 0, "completion_tokens": 0}
    pieces = _run(_collect(providers.astream(LARGE, MSGS, **remote)))
    done = pieces[-1]
    assert done.content == "recorded answer" and done.usage_estimated
    assert done.prompt_tokens > 0 and done.completion_tokens > 0


def test_a_legacy_function_call_and_a_refusal_are_kept_in_the_choice():
    message = Message(
        role="assistant", content=None, function_call={"name": "f", "arguments": '{"a": 1}'}
    )
    message.refusal = "I will not do that"
    answer = ModelResponse(
        choices=[Choices(index=0, finish_reason="function_call", message=message)]
    )
    c = _run(providers.acomplete("openai/gpt-4o-mini", MSGS, mock_response=answer))
    (choice,) = c.choices
    assert choice["message"]["function_call"] == {"name": "f", "arguments": '{"a": 1}'}
    assert choice["message"]["refusal"] == "I will not do that"
    assert c.finish_reason == "function_call" and c.content == "" and c.tool_calls == []


def test_model_table_lookups_of_an_unknown_model_fall_back():
    assert providers.output_limit("openai/not-in-the-table") is None
    assert providers.context_window("openai/not-in-the-table") == 8192
    assert providers.output_limit("test/echo") is None
    assert providers.json_response_format("no-such-model", "x", {"type": "object"}) is None
    assert providers.cost_of("no-such-model", 10, 10) is None


# --- which models when none are named ---------------------------------------------------------------


def test_without_the_runtime_no_default_model_is_offered(monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # the package is absent
    assert not embedded_installed()
    with pytest.raises(ConfigError) as info:
        resolve_models("test/echo", None)
    assert str(info.value) == NO_MODEL_HINT and info.value.exit_code == 2
    assert resolve_models("test/echo", "test/big") == ("test/echo", "test/big", [])


def test_a_missing_large_model_defaults_to_the_embedded_one_with_a_notice(monkeypatch):
    if not embedded_installed():
        pytest.skip("the embedded model is not installed")
    small, large, notices = resolve_models("test/echo", None)
    assert (small, large) == ("test/echo", DEFAULT_LOCAL_MODEL)
    assert len(notices) == 1 and "no large model configured" in notices[0]
    monkeypatch.setenv("PRELLM_LARGE_MODEL", "test/big")
    assert resolve_models(None, None) == (DEFAULT_LOCAL_MODEL, "test/big", [])


# --- the scripted test model ---------------------------------------------------------------------------


def _answer(model: str, messages: list[dict], **params) -> dict:
    return serve_complete(model, {"messages": messages, **params})["choices"][0]["message"]


def _schema(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}


def test_echo_answers_the_last_user_message_and_nothing_without_one():
    chat = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "done"},
    ]
    assert _answer("test/echo", chat)["content"] == "second"
    assert _answer("test/echo", [{"role": "system", "content": "rules"}])["content"] == ""


def test_schema_instances_cover_optional_and_boolean_fields():
    schema = {
        "type": "object",
        "properties": {
            "count": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3}]},
            "urgent": {"type": "boolean"},
            "score": {"type": "number", "maximum": 10},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        },
    }
    content = _answer("test/echo", MSGS, response_format=_schema(schema))["content"]
    assert json.loads(content) == {
        "count": 3,
        "urgent": False,
        "score": 9.0,
        "tags": ["tags 1", "tags 2"],
    }


def test_json_object_mode_answers_with_the_quoted_names():
    msgs = [{"role": "user", "content": 'Give me "region" and "owner" of the app'}]
    content = _answer("test/echo", msgs, response_format={"type": "json_object"})["content"]
    assert json.loads(content) == {"region": "region", "owner": "owner"}


def test_the_tool_model_fills_arguments_from_numbers_and_quoted_phrases():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "scale",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "deployment": {"type": "string"},
                        "replicas": {"type": "integer"},
                        "ratio": {"type": "number"},
                        "env": {"type": "string", "enum": ["dev", "prod"]},
                    },
                },
            },
        },
        {"type": "function", "function": {"name": "noop"}},
    ]
    msgs = [{"role": "user", "content": "Scale 'web api' to 3 replicas at 0.5 in prod"}]
    (call,) = _answer("test/tools", msgs, tools=tools)["tool_calls"]
    assert call["function"]["name"] == "scale"
    assert json.loads(call["function"]["arguments"]) == {
        "deployment": "web api",
        "replicas": 3,
        "ratio": 0.5,
        "env": "prod",
    }
    chosen = {"type": "function", "function": {"name": "noop"}}
    (call,) = _answer("test/tools", msgs, tools=tools, tool_choice=chosen)["tool_calls"]
    assert call["function"] == {"name": "noop", "arguments": "{}"}


def test_the_tool_model_answers_in_text_when_told_not_to_call_or_given_nothing_to_call():
    tools = [{"type": "function", "function": {"name": "scale"}}]
    assert _answer("test/tools", MSGS, tools=tools, tool_choice="none") == {
        "role": "assistant",
        "content": MSGS[0]["content"],
    }
    assert _answer("test/tools", MSGS)["content"] == MSGS[0]["content"]
    legacy = [{"name": "scale", "parameters": {"type": "object"}}]
    (call,) = _answer("test/tools", MSGS, functions=legacy)["tool_calls"]
    assert call["function"]["name"] == "scale"


def test_a_cut_stream_the_tokenizer_cannot_count_is_estimated():
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    msgs = [{"role": "user", "content": [{"type": "text", "text": "transcribe"}, audio]}]
    c = providers.partial("openai/gpt-4o-mini", msgs, "cut short here", time.perf_counter())
    assert c.finish_reason == "cut" and c.usage_estimated
    assert c.prompt_tokens == len(str(msgs[0]["content"])) // 4 + 1
    assert c.completion_tokens == len("cut short here") // 4
    assert c.cost_usd is not None and c.cost_usd > 0  # still priced from the table
