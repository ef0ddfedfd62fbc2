"""Degraded paths are recorded, failures are typed, the user's request is never lost."""

from __future__ import annotations

import asyncio
import json

import pytest

from prellm import ConfigError, PreLLM, ProviderError, ValidationError, preprocess_and_execute_sync
from prellm.providers.testing import recorded_requests, register_function

QUERY = "Deploy app to prod"


def test_invalid_small_output_gets_one_repair_then_degrades_to_passthrough():
    large = register_function("large_rec", lambda m, p: "ok")
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/invalid", large_llm=large, strategy="structure"
    )
    small_calls = recorded_requests("test/invalid")
    assert len(small_calls) == 2
    repair = small_calls[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "this is not JSON {"}
    assert "not valid" in repair[-1]["content"]
    assert r.decomposition.fallback_reason.startswith("small model output invalid after one repair")
    assert r.strategy == "passthrough" and r.requested_strategy == "structure"
    assert recorded_requests(large)[0]["messages"] == [{"role": "user", "content": QUERY}]
    assert [(s.stage, s.ok) for s in r.stages] == [
        ("small", False),
        ("small_repair", False),
        ("large", True),
    ]
    assert any("preprocessing skipped" in n for n in r.notices)


def test_a_repair_that_fixes_the_output_is_used():
    replies = iter(
        [
            json.dumps(
                {
                    "intent": "deploy",
                    "confidence": 7,
                    "domain": "devops",
                    "language": "en",
                    "missing": [],
                }
            ),
            json.dumps(
                {
                    "intent": "deploy",
                    "confidence": 0.7,
                    "domain": "devops",
                    "language": "en",
                    "missing": [],
                }
            ),
        ]
    )
    small = register_function("repairable", lambda m, p: next(replies))
    r = preprocess_and_execute_sync(
        QUERY, small_llm=small, large_llm="test/echo", strategy="classify"
    )
    second = recorded_requests(small)[1]["messages"][-1]["content"]
    assert (
        "confidence" in second and "less than or equal to 1" in second
    )  # the validation error is shown
    assert r.decomposition.fallback_reason is None
    assert r.decomposition.confidence == 0.7
    assert r.strategy == "classify"


def test_an_unreachable_small_model_degrades_and_the_query_still_reaches_the_large_model():
    large = register_function("large_rec", lambda m, p: "still answered")
    r = preprocess_and_execute_sync(
        QUERY, small_llm="test/fail", large_llm=large, strategy="classify"
    )
    assert r.content == "still answered"
    assert "small model unavailable" in r.decomposition.fallback_reason
    assert recorded_requests(large)[0]["messages"][-1]["content"] == QUERY
    assert r.stages[0].ok is False and r.stages[0].error


def test_a_large_model_failure_raises_a_typed_error_naming_the_model():
    with pytest.raises(ProviderError) as info:
        preprocess_and_execute_sync(
            QUERY, small_llm="test/echo", large_llm="test/fail", strategy="classify"
        )
    assert info.value.model == "test/fail"
    assert "test/fail" in str(info.value) and "configured to fail" in str(info.value)
    assert info.value.exit_code == 1


def test_an_empty_answer_is_a_validation_error():
    empty = register_function("empty", lambda m, p: "")
    with pytest.raises(ValidationError, match="empty answer"):
        preprocess_and_execute_sync(
            QUERY, small_llm="test/echo", large_llm=empty, strategy="passthrough"
        )


def test_unknown_strategy_is_a_config_error_at_construction():
    with pytest.raises(ConfigError, match="unknown strategy 'magic'") as info:
        PreLLM("test/echo", "test/echo", strategy="magic")
    assert info.value.exit_code == 2


def test_unknown_provider_is_a_config_error_with_the_fix():
    with pytest.raises(ConfigError, match="unknown model 'nosuchprovider-xyz'"):
        preprocess_and_execute_sync(
            QUERY, small_llm="test/echo", large_llm="nosuchprovider-xyz", strategy="passthrough"
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query": "   "},
        {"messages": [{"role": "system", "content": "x"}]},
        {"messages": [{"content": "no role"}]},
    ],
)
def test_nothing_to_answer_is_a_config_error(kwargs):
    with pytest.raises(ConfigError):
        preprocess_and_execute_sync(small_llm="test/echo", large_llm="test/echo", **kwargs)


def test_the_sync_api_refuses_to_run_inside_an_event_loop():
    async def inside():
        return preprocess_and_execute_sync(QUERY, small_llm="test/echo", large_llm="test/echo")

    with pytest.raises(ConfigError, match="running event loop"):
        asyncio.run(inside())
