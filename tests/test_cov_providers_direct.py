"""preLLM's own models called without litellm (``providers.direct``), in this process.

The ``test/`` models answer; slow or failing ones are registered functions. A
``local/`` model is only ever named with a file that does not exist, so no GGUF is
loaded. One backend stands in for llama.cpp's streaming (its error chunks), through
the ``LocalBackend`` protocol ``direct.enable`` takes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
import warnings
from typing import Any

import pytest

from prellm import providers
from prellm.errors import ConfigError, ProviderError, ProviderTimeoutError
from prellm.models import ToolCallDelta
from prellm.providers import direct
from prellm.providers.testing import recorded_requests, register_function

MSGS = [{"role": "user", "content": "Deploy the app to production"}]
BOUND_S = 60.0
MISSING_GGUF = "local//nonexistent/prellm-test/model.gguf"
TOOLS = [
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
                    "dry_run": {"type": "boolean"},
                },
            },
        },
    },
    {"type": "function", "function": {"name": "get_pods", "parameters": {"type": "object"}}},
]


def _run(coro):
    return asyncio.run(coro)


async def _collect(gen) -> list:
    return [piece async for piece in gen]


@pytest.fixture
def on():
    """The CLI's direct path, in this process (no host)."""
    restore = direct.enable(None)
    yield
    restore()


def _text(chunks: list[dict]) -> str:
    return "".join(
        (c["choices"][0].get("delta") or {}).get("content") or "" for c in chunks if c["choices"]
    )


# --- what is served, and where ---------------------------------------------------------------


def test_only_our_own_models_are_served_without_litellm():
    with pytest.raises(ProviderError, match="not one of preLLM's own models"):
        direct.serve_complete("openai/gpt-4o-mini", {"messages": MSGS})
    with pytest.raises(ProviderError, match="not one of preLLM's own models"):
        direct.serve_stream("openai/gpt-4o-mini", {"messages": MSGS}, lambda c: False)


def test_a_missing_local_model_file_is_a_config_error_and_nothing_is_loaded():
    req = {"messages": MSGS}
    with pytest.raises(ConfigError, match="GGUF file not found"):
        direct.serve_complete(MISSING_GGUF, req)
    with pytest.raises(ConfigError, match="GGUF file not found"):
        direct.serve_stream(MISSING_GGUF, req, lambda c: False)
    with pytest.raises(ConfigError, match="GGUF file not found"):
        direct.serve_complete_stoppable(MISSING_GGUF, req, lambda: False)
    with pytest.raises(ConfigError, match="unknown embedded model 'no-such-model'"):
        direct.serve_complete("local/no-such-model", req)


def test_a_missing_local_model_keeps_its_config_error_through_a_call(on):
    with pytest.raises(ConfigError, match="GGUF file not found") as info:
        _run(providers.acomplete(MISSING_GGUF, MSGS))
    assert info.value.exit_code == 2  # the user's to fix, not a provider failure
    with pytest.raises(ConfigError, match="GGUF file not found"):
        _run(_collect(providers.astream(MISSING_GGUF, MSGS)))


def test_a_stream_stops_as_soon_as_the_consumer_says_so():
    got: list[dict] = []
    direct.serve_stream("test/echo", {"messages": MSGS}, lambda c: got.append(c) or True)
    assert _text(got) == "Deploy" and len(got) == 1


def test_stoppable_completion_of_a_test_model_is_the_plain_completion():
    req = {"messages": MSGS, "tools": TOOLS}
    assert direct.serve_complete_stoppable("test/tools", req, lambda: True) == (
        direct.serve_complete("test/tools", req)
    )


def test_the_in_process_backend_serves_only_our_models():
    backend = direct.InProcess()
    assert backend.serves("test/echo") and backend.serves("local/qwen2.5-coder-1.5b")
    assert not backend.serves("openai/gpt-4o-mini")
    restore = direct.enable(backend)
    try:
        c = _run(providers.acomplete("test/echo", MSGS, max_tokens=5))
        assert c.content == MSGS[0]["content"] and c.cost_usd == 0.0
        pieces = _run(_collect(providers.astream("test/echo", MSGS)))
        assert "".join(p for p in pieces if isinstance(p, str)) == MSGS[0]["content"]
    finally:
        restore()
    assert recorded_requests("test/echo")[0]["params"] == {"max_tokens": 5}


def test_only_the_fields_our_models_understand_are_passed():
    req = direct.request_of(MSGS, {"temperature": 0, "stop": None, "api_key": "sk-x", "n": 2})
    assert req == {"messages": MSGS, "temperature": 0}


# --- results as Completion fields -------------------------------------------------------------


def _out(content: str | None, calls: list | None = None, usage: dict | None = None) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage}


def test_a_local_model_writing_a_tool_call_as_json_text_makes_a_real_call():
    text = '```json\n{"name": "scale", "arguments": {"replicas": 3}}\n```'
    fields = direct.completion_fields("local/m", _out(text), TOOLS, 5.0)
    assert fields["content"] == "" and fields["finish_reason"] == "tool_calls"
    (call,) = fields["tool_calls"]
    assert call["function"] == {"name": "scale", "arguments": '{"replicas": 3}'}
    assert fields["choices"][0]["message"]["tool_calls"] == [call]
    assert fields["usage_estimated"] and fields["prompt_tokens"] == 0


def test_json_text_naming_no_offered_tool_stays_text():
    text = '{"name": "delete_cluster", "arguments": {}}'
    fields = direct.completion_fields("local/m", _out(text), TOOLS, 5.0)
    assert fields["content"] == text and fields["tool_calls"] == []
    assert fields["finish_reason"] == "stop"
    empty = direct.completion_fields("local/m", _out(None), TOOLS, 5.0)
    assert empty["content"] == "" and empty["choices"][0]["message"]["content"] == ""


def test_only_local_models_get_their_json_text_read_as_a_call():
    text = '{"name": "scale", "arguments": {}}'
    usage = {"prompt_tokens": 4, "completion_tokens": 2}
    fields = direct.completion_fields("test/m", _out(text, usage=usage), TOOLS, 5.0)
    assert fields["content"] == text and fields["tool_calls"] == []
    assert (fields["prompt_tokens"], fields["completion_tokens"]) == (4, 2)
    assert not fields["usage_estimated"]


def test_a_streamed_answer_assembles_into_the_non_streamed_one():
    for model, req in [
        ("test/echo", {"messages": MSGS}),
        ("test/tools", {"messages": MSGS, "tools": TOOLS}),
    ]:
        got = direct._Assembled()
        direct.serve_stream(model, req, lambda c, got=got: got.take(c) and False)
        streamed, plain = got.response(), direct.serve_complete(model, req)
        for out in (streamed, plain):  # a call alone has no content: "" or None alike
            out["choices"][0]["message"]["content"] = (
                out["choices"][0]["message"]["content"] or None
            )
        assert streamed == plain


# --- failures and deadlines as typed errors ----------------------------------------------------


def test_a_bug_in_a_model_becomes_a_provider_error(on):
    def broken(messages, params):
        raise ValueError("bad template")

    model = register_function("direct_broken", broken)
    with pytest.raises(ProviderError, match="ValueError: bad template") as info:
        _run(providers.acomplete(model, MSGS))
    assert info.value.model == model
    with pytest.raises(ProviderError, match="ValueError: bad template"):
        _run(_collect(providers.astream(model, MSGS)))


def test_a_provider_error_of_a_model_keeps_its_status(on):
    with pytest.raises(ProviderError) as info:
        _run(providers.acomplete("test/fail", MSGS))
    assert info.value.status_code == 503


def test_a_passed_deadline_fails_before_any_call_and_leaves_nothing_running(on):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for call in (
            lambda: providers.acomplete("test/echo", MSGS, deadline=time.monotonic() - 1),
            lambda: _collect(providers.astream("test/echo", MSGS, deadline=time.monotonic() - 1)),
        ):
            with pytest.raises(ProviderTimeoutError, match="deadline passed") as info:
                _run(call())
            assert info.value.status_code == 504
            del info
            gc.collect()
    assert recorded_requests() == []  # no model was called
    assert not [w for w in caught if "never awaited" in str(w.message)]


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_past_its_own_timeout_is_a_provider_timeout(on, stream):
    gate = threading.Event()

    def held(messages, params):
        gate.wait(BOUND_S)
        return "too late"

    model = register_function(f"direct_held_{stream}", held)

    async def call() -> None:
        try:
            if stream:
                await _collect(providers.astream(model, MSGS, timeout=0.2))
            else:
                await providers.acomplete(model, MSGS, timeout=0.2)
        finally:
            gate.set()  # the model's thread ends before the event loop does

    with pytest.raises(ProviderTimeoutError, match="timed out") as info:
        _run(call())
    assert info.value.status_code == 504 and info.value.model == model


def test_a_stream_without_prompt_counts_is_estimated(on):
    model = register_function("direct_unmeasured", lambda m, p: "eight chars and more")
    pieces = _run(_collect(providers.astream(model, [{"role": "user", "content": ""}])))
    done = pieces[-1]
    assert done.usage_estimated and done.prompt_tokens == 1
    assert done.completion_tokens == len("eight chars and more") // 4
    assert done.content == "eight chars and more" and done.finish_reason == "stop"


def test_a_cut_stream_is_counted_by_estimate(on):
    c = providers.partial("test/echo", MSGS, "Deploy the", time.perf_counter())
    assert c.finish_reason == "cut" and c.usage_estimated and c.cost_usd == 0.0
    assert (c.prompt_tokens, c.completion_tokens) == (len(MSGS[0]["content"]) // 4 + 1, 2)


class LlamaLike:
    """Streams like llama.cpp does when generation fails: some text, then an error chunk."""

    def __init__(self, error: Any) -> None:
        self.error = error

    def serves(self, model: str) -> bool:
        return model.startswith("local/")

    def complete(self, model, request, timeout=None):
        return _out("fine")

    def stream(self, model, request, on_chunk, timeout=None) -> None:
        on_chunk(direct._delta({"content": "Hel"}))
        on_chunk({"error": self.error})


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        ({"code": 500, "message": "context size exceeded"}, "context size exceeded"),
        ("boom", "boom"),
    ],
)
def test_an_error_chunk_mid_stream_is_a_provider_error(error, cause):
    restore = direct.enable(LlamaLike(error))
    got: list = []

    async def consume() -> None:
        async for piece in providers.astream("local/fake", MSGS):
            got.append(piece)

    try:
        with pytest.raises(ProviderError, match=cause) as info:
            _run(consume())
        assert info.value.model == "local/fake"
    finally:
        restore()
    assert got == ["Hel"]  # what came before the error was delivered


def test_stream_pieces_carry_tool_call_deltas(on):
    pieces = _run(_collect(providers.astream("test/tools", MSGS, tools=TOOLS, tool_choice="auto")))
    deltas = [p for p in pieces if isinstance(p, ToolCallDelta)]
    assert deltas and deltas[0].name == "scale"
    done = pieces[-1]
    assert done.finish_reason == "tool_calls"
    assert json.loads(done.tool_calls[0]["function"]["arguments"])["deployment"] == "deployment"
