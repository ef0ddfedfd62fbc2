"""Each strategy changes what the large model receives (recorded at the test provider)."""

from __future__ import annotations

import json

import pytest

from prellm import PreLLM, preprocess_and_execute, preprocess_and_execute_sync
from prellm.providers.testing import recorded_requests, register_function

QUERY = "Deploy app to prod"


def large_recorder(reply: str = "the answer") -> str:
    return register_function("large_rec", lambda messages, params: reply)


def large_messages(model: str = "test/large_rec") -> list[dict]:
    calls = recorded_requests(model)
    assert calls, f"{model} was never called"
    return calls[-1]["messages"]


def test_passthrough_sends_the_query_unchanged_without_a_small_call():
    large = large_recorder()
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm=large, strategy="passthrough"
    )
    assert large_messages() == [{"role": "user", "content": QUERY}]
    assert recorded_requests("test/echo") == []
    assert r.small_model_used is None
    assert r.content == "the answer"
    assert r.decomposition.composed_prompt == QUERY


def test_classify_adds_an_expert_system_prompt_and_keeps_the_users_words():
    large = large_recorder()
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm=large, strategy="classify"
    )
    msgs = large_messages()
    assert msgs[0]["role"] == "system"
    assert "intent: deploy" in msgs[0]["content"]
    assert "missing 1" in msgs[0]["content"]  # the facts the small model found missing
    assert msgs[-1] == {"role": "user", "content": QUERY}
    assert r.decomposition.intent == "deploy"
    assert r.decomposition.system_prompt == msgs[0]["content"]
    assert len(recorded_requests("test/echo")) == 1


def test_structure_rewrites_the_request_into_goal_facts_constraints_output():
    large = large_recorder()
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm=large, strategy="structure"
    )
    content = large_messages()[-1]["content"]
    for part in (
        "Goal: action target",
        f"Request (verbatim): {QUERY}",
        "- name: value",
        "Constraints:",
        "- missing 1",
        "Expected output:",
        "Answer in English.",
    ):
        assert part in content
    assert r.decomposition.structure.action == "action"
    assert r.decomposition.composed_prompt == content


def test_enrich_adds_context_assumptions_and_user_context():
    large = large_recorder()
    preprocess_and_execute_sync(
        QUERY,
        small_llm="test/echo",
        large_llm=large,
        strategy="enrich",
        user_context={"cluster": "k3s", "ci": "GitLab"},
    )
    content = large_messages()[-1]["content"]
    assert content.startswith(QUERY)
    assert "- context 1" in content and "- assumptions 1" in content
    assert "cluster: k3s; ci: GitLab" in content


def test_split_answers_each_sub_query_then_merges_in_one_large_call():
    small = register_function(
        "split_small",
        lambda m, p: json.dumps(
            {
                "intent": "explain",
                "language": "en",
                "sub_queries": ["What is A?", "What is B?", "What is C?"],
            }
        ),
    )
    large = register_function(
        "large_rec", lambda m, p: "answer to " + m[-1]["content"].splitlines()[-1]
    )
    r = preprocess_and_execute_sync(
        "Explain A, B and C", small_llm=small, large_llm=large, strategy="split"
    )
    calls = recorded_requests(large)
    assert len(calls) == 4  # three parts, one merge
    parts = sorted(c["messages"][-1]["content"].splitlines()[-1] for c in calls[:3])
    assert parts == ["What is A?", "What is B?", "What is C?"]
    merge = calls[3]["messages"][-1]["content"]
    assert "### What is B?" in merge and "answer to What is B?" in merge
    assert [s.query for s in r.sub_answers] == ["What is A?", "What is B?", "What is C?"]
    assert [s.stage for s in r.stages] == ["small", "part_1", "part_2", "part_3", "large"]
    assert len(recorded_requests(small)) == 1


def test_split_with_one_sub_query_answers_once():
    small = register_function(
        "split_one",
        lambda m, p: json.dumps(
            {"intent": "explain", "language": "en", "sub_queries": ["What is A?"]}
        ),
    )
    large = large_recorder()
    preprocess_and_execute_sync("What is A?", small_llm=small, large_llm=large, strategy="split")
    assert len(recorded_requests(large)) == 1
    assert large_messages()[-1]["content"] == "What is A?"


def test_auto_chooses_the_strategy_in_the_same_small_call():
    def small_fn(messages, params):
        schema = params["response_format"]["json_schema"]["schema"]
        assert "strategy" in schema["properties"]
        return json.dumps(
            {
                "strategy": "structure",
                "reason": "a task",
                "intent": "deploy",
                "confidence": 0.8,
                "domain": "devops",
                "language": "en",
                "missing": ["target environment"],
                "action": "deploy",
                "target": "app",
                "sub_queries": [],
                "assumptions": [],
            }
        )

    small = register_function("auto_small", small_fn)
    large = large_recorder()
    r = preprocess_and_execute_sync(QUERY, small_llm=small, large_llm=large)
    assert r.requested_strategy == "auto" and r.strategy == "structure"
    assert r.decomposition.strategy_reason == "a task"
    assert len(recorded_requests(small)) == 1
    assert "Goal: deploy app" in large_messages()[-1]["content"]
    assert "- target environment" in large_messages()[-1]["content"]


def test_small_model_gets_a_bounded_json_schema_and_small_max_tokens():
    preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm="test/echo", strategy="auto"
    )
    params = recorded_requests("test/echo")[0]["params"]
    schema = params["response_format"]["json_schema"]["schema"]
    assert params["response_format"]["type"] == "json_schema"
    assert schema["properties"]["missing"]["maxItems"] == 4
    assert schema["properties"]["sub_queries"]["maxItems"] == 5
    assert "deploy" in schema["properties"]["intent"]["enum"]
    assert params["max_tokens"] <= 400


def test_polish_query_keeps_polish():
    large = large_recorder()
    r = preprocess_and_execute_sync(
        "Wdróż aplikację na produkcję", small_llm="test/echo", large_llm=large, strategy="structure"
    )
    assert "Answer in Polish." in large_messages()[-1]["content"]
    assert "Wdróż aplikację na produkcję" in large_messages()[-1]["content"]
    assert r.decomposition.language == "pl"


def test_chat_history_reaches_the_small_model_and_the_large_model_keeps_it():
    large = large_recorder()
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "We run Kubernetes 1.29 on GKE."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": [{"type": "text", "text": "How do I roll back a deploy?"}]},
    ]
    r = preprocess_and_execute_sync(
        messages=messages, small_llm="test/echo", large_llm=large, strategy="classify"
    )
    small_prompt = recorded_requests("test/echo")[0]["messages"][-1]["content"]
    assert "user: We run Kubernetes 1.29 on GKE." in small_prompt
    assert '"""How do I roll back a deploy?"""' in small_prompt
    sent = large_messages()
    assert sent[0]["content"].startswith("You are terse.\n\nYou are an expert")
    assert sent[1:3] == messages[1:3]
    assert sent[3] == messages[3]
    assert r.decomposition.composed_prompt == "How do I roll back a deploy?"


def test_usage_cost_and_timings_per_stage():
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/echo", large_llm="test/echo", strategy="classify"
    )
    assert set(r.usage) == {"small", "large", "total"}
    assert r.usage["small"].prompt_tokens > 0 and r.usage["large"].completion_tokens > 0
    assert r.usage["total"].total_tokens == sum(r.usage[s].total_tokens for s in ("small", "large"))
    assert r.cost_usd == {"small": 0.0, "large": 0.0, "total": 0.0}
    assert set(r.timings_ms) == {"small", "large", "total"}
    assert r.timings_ms["total"] >= r.timings_ms["small"]


@pytest.mark.parametrize(
    "strategy", ["passthrough", "classify", "structure", "split", "enrich", "auto"]
)
async def test_async_stream_yields_events_chunks_then_the_result(strategy):
    stream = await preprocess_and_execute(
        "Explain A and B",
        small_llm="test/echo",
        large_llm="test/echo",
        strategy=strategy,
        stream=True,
    )
    events = [e async for e in stream]
    from prellm import PreLLMResult, StageEvent

    result = events[-1]
    assert isinstance(result, PreLLMResult)
    chunks = [e for e in events if isinstance(e, str)]
    assert len(chunks) > 1
    assert "".join(chunks) == result.content
    stages = [(e.stage, e.status) for e in events if isinstance(e, StageEvent)]
    assert stages[-2:] == [("large", "start"), ("large", "done")]
    if strategy != "passthrough":
        assert stages[0] == ("small", "start")


def test_engine_object_is_reusable_and_bound_to_its_configuration():
    engine = PreLLM("test/echo", "test/echo", strategy="classify")
    a = engine.run("Deploy app to prod")
    b = engine.run("Explain the error")
    assert a.strategy == b.strategy == "classify"
    assert a.decomposition.intent == "deploy" and b.decomposition.intent == "explain"
