"""``prellm serve`` driven by the official openai SDK, with a recording upstream standing in for the large model."""

from __future__ import annotations

import httpx
import openai
import pytest

PAIR = "prellm:test/echo->openai/big-model"


@pytest.fixture
def upstream(provider, monkeypatch):
    """The large model ``openai/big-model`` is the recording server (as users point litellm at any OpenAI-compatible URL)."""
    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-secret-0000")
    return provider


def client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=30)


def test_chat_completion_with_usage_and_prellm_details(serve, upstream):
    url = serve(strategy="classify")
    r = client(url).chat.completions.create(
        model=PAIR, messages=[{"role": "user", "content": "Deploy app to prod"}]
    )
    assert r.choices[0].message.content == "recorded answer"
    assert r.object == "chat.completion" and r.model == PAIR
    # small (test model) + large (the upstream's own counts: 11 + 7)
    assert r.usage.prompt_tokens > 11 and r.usage.completion_tokens > 7
    details = r.model_extra["prellm"]
    assert details["strategy"] == "classify" and details["intent"] == "deploy"
    assert set(details["timings_ms"]) == {"small", "large", "total"}
    sent = upstream.requests[-1]
    assert sent["model"] == "big-model"
    assert (
        sent["messages"][0]["role"] == "system"
        and sent["messages"][-1]["content"] == "Deploy app to prod"
    )


def test_system_message_history_and_content_arrays_reach_the_large_model(serve, upstream):
    url = serve()
    messages = [
        {"role": "system", "content": "Answer like a pirate."},
        {"role": "user", "content": "We use Terraform."},
        {"role": "assistant", "content": "Arr."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "How do I import an existing bucket?"}],
        },
    ]
    r = client(url).chat.completions.create(
        model=PAIR,
        messages=messages,
        temperature=0.1,
        max_completion_tokens=50,
        stop=["END"],
        extra_body={"prellm": {"strategy": "classify"}},
    )
    assert r.choices[0].message.content == "recorded answer"
    sent = upstream.requests[-1]
    assert sent["messages"][0]["content"].startswith("Answer like a pirate.")
    assert sent["messages"][1:3] == messages[1:3]
    assert "How do I import an existing bucket?" in str(sent["messages"][3]["content"])
    assert sent["temperature"] == 0.1 and sent["max_tokens"] == 50 and sent["stop"] == ["END"]


def test_streaming_is_true_streaming_with_usage_and_stage_events(serve, upstream):
    upstream.responder = lambda body: "alpha beta gamma delta"
    upstream.hold_after_first_chunk = True
    url = serve(strategy="classify")
    stream = client(url).chat.completions.create(
        model=PAIR,
        messages=[{"role": "user", "content": "Explain DNS"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"prellm": {"show_stages": True}},
    )
    texts, stages, usage, finish = [], [], None, None
    for chunk in stream:
        if chunk.model_extra.get("prellm", {}).get("event"):
            stages.append(chunk.model_extra["prellm"]["event"]["stage"])
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            if ch.delta.content:
                texts.append(ch.delta.content)
                upstream.released.set()  # the first token reached the client while the upstream was mid-answer
            finish = ch.finish_reason or finish
    assert not upstream.hold_timed_out
    assert "".join(texts) == "alpha beta gamma delta" and len(texts) == 4
    assert finish == "stop"
    assert "small" in stages and "large" in stages
    assert usage.completion_tokens >= 7


def test_models_list_and_health(serve):
    url = serve(
        aliases={"fast": {"small": "test/echo", "large": "test/echo"}},
        large="test/echo",
        small="test/echo",
    )
    ids = [m.id for m in client(url).models.list()]
    assert ids == ["prellm:default", "fast", "prellm:test/echo"]
    base = url.removesuffix("/v1")
    assert httpx.get(f"{base}/health/liveness").json() == {"status": "alive"}
    ready = httpx.get(f"{base}/health/readiness")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_readiness_reports_an_unreachable_model(serve):
    url = serve(small="test/echo", large="openai/nothing", readiness_timeout_s=2)
    import os

    os.environ["OPENAI_API_BASE"] = "http://127.0.0.1:9/v1"
    try:
        r = httpx.get(url.removesuffix("/v1") + "/health/readiness", timeout=30)
    finally:
        del os.environ["OPENAI_API_BASE"]
    assert r.status_code == 503
    assert any(not c["ok"] and c["model"] == "openai/nothing" for c in r.json()["checks"])


def test_alias_selects_its_pair(serve):
    url = serve(aliases={"fast": {"small": "test/echo", "large": "test/echo"}})
    r = client(url).chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "hi there"}],
        extra_body={"prellm": {"strategy": "passthrough"}},
    )
    assert r.choices[0].message.content == "hi there"
    assert r.model_extra["prellm"]["large_model"] == "test/echo"


def test_auth_when_keys_are_configured(serve):
    url = serve(
        api_keys=["key-one", "key-two"],
        small="test/echo",
        large="test/echo",
        strategy="passthrough",
    )
    msg = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.AuthenticationError):
        client(url, "wrong").chat.completions.create(model="prellm:default", messages=msg)
    r = httpx.post(f"{url}/chat/completions", json={"model": "prellm:default", "messages": msg})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert (
        client(url, "key-two")
        .chat.completions.create(model="prellm:default", messages=msg)
        .choices[0]
        .message.content
        == "hi"
    )
    with pytest.raises(openai.AuthenticationError):
        client(url, "wrong").models.list()
    assert httpx.get(url.removesuffix("/v1") + "/health/liveness").status_code == 200


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            500,
            openai.BadGatewayError
            if hasattr(openai, "BadGatewayError")
            else openai.InternalServerError,
        ),
        (429, openai.RateLimitError),
    ],
)
def test_upstream_failures_map_to_openai_errors(serve, upstream, status, expected):
    upstream.responder = lambda body: (status, "upstream broke")
    url = serve(strategy="passthrough")
    with pytest.raises(openai.APIStatusError) as info:
        client(url).chat.completions.create(
            model=PAIR, messages=[{"role": "user", "content": "hi"}], extra_body={}
        )
    assert info.value.status_code == (502 if status == 500 else 429)
    assert "upstream broke" in info.value.message
    assert "sk-upstream-secret" not in info.value.message


def test_upstream_timeout_is_504(serve, upstream):
    import time

    def slow(body):
        time.sleep(3)
        return "late"

    upstream.responder = slow
    url = serve(strategy="passthrough", upstream_timeout_s=0.5)
    with pytest.raises(openai.APIStatusError) as info:
        client(url).chat.completions.create(
            model=PAIR, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 504


def test_an_error_after_the_stream_started_is_an_error_event(serve, upstream):
    upstream.responder = lambda body: (500, "died mid-way")
    url = serve(strategy="classify")
    stream = client(url).chat.completions.create(
        model=PAIR, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="died mid-way"):
        for _ in stream:
            pass


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"model": "prellm:default"}', 400),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 400),
        (b'{"model": "prellm:default", "messages": []}', 400),
        (b'{"model": "prellm:default", "messages": "hi"}', 400),
        (b'{"model": "prellm:default", "messages": [{"role": "wizard", "content": "hi"}]}', 400),
        (b'{"model": "prellm:default", "messages": [{"role": "user", "content": 5}]}', 400),
        (
            b'{"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}',
            400,
        ),
        (
            b'{"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}], "n": 3, "stream": true}',
            400,
        ),
        (
            b'{"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}], "prellm": {"strategy": "magic"}}',
            400,
        ),
        (b'{"model": "prellm:->", "messages": [{"role": "user", "content": "hi"}]}', 400),
        (
            b'{"model": "prellm:default", "messages": [{"role": "system", "content": "only system"}]}',
            400,
        ),
        (
            b'{"model": "prellm:default", "messages": [{"role": "user", "content": "'
            + b"x" * 300_000
            + b'"}]}',
            413,
        ),
    ],
)
def test_malformed_bodies_get_a_4xx_with_a_message(serve, payload, status):
    url = serve(small="test/echo", large="test/echo", max_body_bytes=200_000)
    r = httpx.post(
        f"{url}/chat/completions", content=payload, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_too_many_messages_is_413(serve):
    url = serve(small="test/echo", large="test/echo", max_messages=3)
    msgs = [{"role": "user", "content": "hi"}] * 4
    r = httpx.post(f"{url}/chat/completions", json={"model": "prellm:default", "messages": msgs})
    assert r.status_code == 413
