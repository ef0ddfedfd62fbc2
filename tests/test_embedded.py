"""The real embedded model (llama.cpp, Qwen2.5-Coder-1.5B): every strategy, English and Polish.

Slow: each test loads nothing new (one model per process) but generates real tokens
on the CPU. Large answers are kept short with max_tokens.
"""

from __future__ import annotations

import json

import pytest

from prellm import PreLLMResult, StageEvent, preprocess_and_execute_sync

pytestmark = pytest.mark.slow

LOCAL = "local/qwen2.5-coder-1.5b"
SHORT = {"max_tokens": 40}


def check_small_stage(r: PreLLMResult) -> None:
    assert r.decomposition.fallback_reason is None, r.decomposition.fallback_reason
    small = [s for s in r.stages if s.role == "small"]
    assert [s.stage for s in small] == ["small"]  # one small call, valid on the first try
    assert small[0].prompt_tokens > 100 and small[0].completion_tokens > 0  # real llama.cpp counts
    assert r.cost_usd["total"] == 0.0
    assert r.content.strip()


def test_classify_english():
    r = preprocess_and_execute_sync(
        "Deploy app to prod", small_llm=LOCAL, large_llm=LOCAL, strategy="classify", **SHORT
    )
    check_small_stage(r)
    assert r.decomposition.intent == "deploy"
    assert 0 <= r.decomposition.confidence <= 1
    assert r.decomposition.system_prompt.startswith("You are an expert in")


def test_structure_polish_keeps_polish():
    q = "Napisz skrypt, który codziennie o 2:00 robi backup bazy PostgreSQL na S3"
    r = preprocess_and_execute_sync(
        q, small_llm=LOCAL, large_llm=LOCAL, strategy="structure", **SHORT
    )
    check_small_stage(r)
    assert r.decomposition.structure.action
    assert f"Request (verbatim): {q}" in r.decomposition.composed_prompt
    assert "Answer in Polish." in r.decomposition.composed_prompt


def test_split_english_answers_parts_and_merges():
    q = "What is a Kubernetes pod, and how does Docker Compose differ from Helm?"
    r = preprocess_and_execute_sync(q, small_llm=LOCAL, large_llm=LOCAL, strategy="split", **SHORT)
    check_small_stage(r)
    assert 1 <= len(r.decomposition.sub_queries) <= 5
    if len(r.decomposition.sub_queries) >= 2:
        assert len(r.sub_answers) == len(r.decomposition.sub_queries)
        assert "Answers to its parts:" in r.decomposition.composed_prompt


def test_enrich_polish():
    q = "Aplikacja w Pythonie działa wolno, co zrobić?"
    r = preprocess_and_execute_sync(
        q,
        small_llm=LOCAL,
        large_llm=LOCAL,
        strategy="enrich",
        user_context="Django 5, PostgreSQL",
        **SHORT,
    )
    check_small_stage(r)
    assert r.decomposition.composed_prompt.startswith(q)
    assert "About my situation: Django 5, PostgreSQL" in r.decomposition.composed_prompt
    assert "Answer in Polish." in r.decomposition.composed_prompt


def test_auto_picks_a_strategy_and_streams():
    events = list(
        preprocess_and_execute_sync(
            "Refactor this function to use async/await",
            small_llm=LOCAL,
            large_llm=LOCAL,
            stream=True,
            **SHORT,
        )
    )
    result = events[-1]
    assert isinstance(result, PreLLMResult)
    check_small_stage(result)
    assert result.requested_strategy == "auto"
    assert result.strategy in ("passthrough", "classify", "structure", "split", "enrich")
    assert result.decomposition.strategy_reason
    chunks = [e for e in events if isinstance(e, str)]
    assert len(chunks) > 1 and "".join(chunks) == result.content
    assert any(
        isinstance(e, StageEvent) and e.stage == "small" and e.status == "done" for e in events
    )


def test_passthrough_local():
    r = preprocess_and_execute_sync(
        "Say hello", small_llm=LOCAL, large_llm=LOCAL, strategy="passthrough", **SHORT
    )
    assert r.small_model_used is None and r.content.strip()
    assert r.usage["large"].completion_tokens > 0


def test_embedded_small_model_composes_what_a_remote_large_model_receives(provider, remote):
    r = preprocess_and_execute_sync(
        "Wdróż aplikację na produkcję",
        small_llm=LOCAL,
        large_llm="openai/big-model",
        strategy="structure",
        **remote,
    )
    check_small_stage(r)
    sent = provider.requests[-1]["messages"][-1]["content"]
    assert sent == r.decomposition.composed_prompt
    assert sent.startswith("Goal:") and "Wdróż aplikację na produkcję" in sent


def test_a_gguf_path_works_as_a_model(tmp_path):
    from prellm.providers.model_files import embedded_model_path

    path = embedded_model_path()
    r = preprocess_and_execute_sync(
        "Say hi", small_llm=LOCAL, large_llm=f"local/{path}", strategy="passthrough", max_tokens=8
    )
    assert r.model_used == f"local/{path}" and r.content.strip()


def test_litellm_sync_streaming_from_the_embedded_provider():
    from prellm.providers import litellm

    stream = litellm().completion(
        model=LOCAL,
        # temperature 0 and a reply that cannot fit in one token: a real stream
        # must deliver it in several chunks (a fake stream sends one).
        messages=[
            {"role": "user", "content": "Write the English words one to five, comma-separated."}
        ],
        stream=True,
        max_tokens=20,
        temperature=0,
    )
    texts = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(texts) > 1 and "".join(texts).strip()


def test_openai_sdk_against_prellm_serve_on_the_embedded_model(serve):
    import openai

    url = serve(small=LOCAL, large=LOCAL, strategy="classify")
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)
    r = client.chat.completions.create(
        model="prellm:default",
        messages=[{"role": "user", "content": "What is a Dockerfile?"}],
        max_tokens=24,
    )
    assert r.choices[0].message.content.strip()
    assert r.model_extra["prellm"]["intent"] and r.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model="prellm:default",
        messages=[{"role": "user", "content": "Napisz hello world w Pythonie"}],
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(texts) > 1
    assert [m.id for m in client.models.list()] == ["prellm:default", f"prellm:{LOCAL}"]


def test_json_replies_are_compact_and_still_valid():
    """A schema-constrained reply is one line: no indentation, which cost a small model
    a quarter of its output tokens; a user's own response_format works the same way."""
    from prellm.providers import litellm

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    out = litellm().completion(
        model=LOCAL,
        messages=[{"role": "user", "content": "The capital of France, as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
        max_tokens=40,
        temperature=0,
    )
    text = out.choices[0].message.content
    assert "\n" not in text and text.startswith('{"city": "'), text
    assert set(json.loads(text)) == {"city", "country"}
