"""Through litellm to an OpenAI-compatible server on 127.0.0.1: what the provider really receives."""

from __future__ import annotations

import threading

import pytest

from prellm import (
    PreLLM,
    PreLLMResult,
    ProviderAuthError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    preprocess_and_execute,
    preprocess_and_execute_sync,
)

QUERY = "Deploy app to prod"
LARGE = "openai/big-model"


def test_classify_system_prompt_reaches_the_provider(provider, remote):
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm=LARGE, strategy="classify", **remote
    )
    body = provider.requests[-1]
    assert body["model"] == "big-model"
    assert body["messages"][0]["role"] == "system" and "expert" in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": QUERY}
    assert r.content == "recorded answer"
    assert r.usage["large"].prompt_tokens == 11 and r.usage["large"].completion_tokens == 7


def test_llm_kwargs_reach_the_provider(provider, remote):
    preprocess_and_execute_sync(
        QUERY,
        small_llm="test/echo",
        large_llm=LARGE,
        strategy="passthrough",
        temperature=0.2,
        max_tokens=33,
        **remote,
    )
    body = provider.requests[-1]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 33
    assert {k.lower(): v for k, v in provider.headers[-1].items()}[
        "authorization"
    ] == "Bearer sk-test-not-a-real-key-0000"


def test_structure_prompt_reaches_the_provider(provider, remote):
    preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm=LARGE, strategy="structure", **remote
    )
    assert provider.requests[-1]["messages"][-1]["content"].startswith("Goal:")


def test_split_parts_run_concurrently_at_the_provider(provider, remote):
    import json

    from prellm.providers.testing import register_function

    small = register_function(
        "three",
        lambda m, p: json.dumps(
            {"intent": "explain", "language": "en", "sub_queries": ["A?", "B?", "C?"]}
        ),
    )
    barrier = threading.Barrier(3, timeout=10)

    def respond(body):
        last = body["messages"][-1]["content"]
        if "one part of a larger request" in last:
            barrier.wait()  # breaks (and fails the test) unless all three parts are in flight at once
            return "part answer " + last.splitlines()[-1]
        return "merged"

    provider.responder = respond
    r = preprocess_and_execute_sync(
        "A, B and C?", small_llm=small, large_llm=LARGE, strategy="split", **remote
    )
    assert r.content == "merged"
    assert sorted(s.answer for s in r.sub_answers) == [
        "part answer A?",
        "part answer B?",
        "part answer C?",
    ]
    assert len(provider.requests) == 4


def test_small_model_through_litellm_gets_json_mode(provider):
    import json

    provider.responder = lambda body: json.dumps(
        {
            "intent": "deploy",
            "confidence": 0.9,
            "domain": "devops",
            "language": "en",
            "missing": ["which cloud"],
        }
    )
    engine = PreLLM(
        "openai/small-model",
        "test/echo",
        "classify",
        small_kwargs={"api_base": provider.url, "api_key": "sk-x"},
    )
    r = engine.run(QUERY)
    body = provider.requests[0]
    assert body["model"] == "small-model"
    assert body["response_format"]["type"] in ("json_schema", "json_object")
    assert body["max_tokens"] <= 400
    assert r.decomposition.missing == ["which cloud"]
    assert r.usage["small"].prompt_tokens == 11


async def test_streaming_is_real_and_counts_the_providers_usage(provider, remote):
    provider.responder = lambda body: "one two three four five"
    provider.hold_after_first_chunk = True
    provider.usage = {"prompt_tokens": 40, "completion_tokens": 5}
    stream = await preprocess_and_execute(
        QUERY, small_llm="test/echo", large_llm=LARGE, strategy="classify", stream=True, **remote
    )
    events = []
    async for e in stream:
        if isinstance(e, str) and not provider.released.is_set():
            provider.released.set()  # the first chunk arrived while the provider was still mid-answer
        events.append(e)
    assert not provider.hold_timed_out
    chunks = [e for e in events if isinstance(e, str)]
    assert len(chunks) == 5 and "".join(chunks) == "one two three four five"
    assert provider.requests[-1]["stream"] is True
    result = events[-1]
    assert isinstance(result, PreLLMResult)
    assert (
        result.usage["large"].prompt_tokens == 40 and result.usage["large"].completion_tokens == 5
    )
    assert not any("estimate" in n for n in result.notices)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(401, ProviderAuthError), (429, RateLimitError), (500, ProviderError), (400, ProviderError)],
)
def test_provider_errors_are_typed_and_name_the_model(provider, remote, status, error_type):
    provider.responder = lambda body: (status, "upstream says no")
    with pytest.raises(error_type) as info:
        preprocess_and_execute_sync(
            QUERY,
            small_llm="test/echo",
            large_llm=LARGE,
            strategy="passthrough",
            num_retries=0,
            **remote,
        )
    assert info.value.model == LARGE
    assert "upstream says no" in str(info.value)
    assert "sk-test-not-a-real-key" not in str(info.value)


def test_a_dead_provider_is_a_provider_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProviderError) as info:
        preprocess_and_execute_sync(
            QUERY,
            small_llm="test/echo",
            large_llm=LARGE,
            strategy="passthrough",
            api_base=f"http://127.0.0.1:{port}/v1",
            api_key="sk-x",
            num_retries=0,
            max_retries=0,
        )
    assert "openai/big-model" in str(info.value)


def test_a_slow_provider_times_out_with_a_typed_error(provider, remote):
    import time

    def slow(body):
        time.sleep(3)
        return "late"

    provider.responder = slow
    with pytest.raises(ProviderTimeoutError):
        preprocess_and_execute_sync(
            QUERY,
            small_llm="test/echo",
            large_llm=LARGE,
            strategy="passthrough",
            timeout=0.5,
            num_retries=0,
            max_retries=0,
            **remote,
        )
