"""Small core pieces: keyword folding, JSON from model output, log scrubbing, traces, the
engine's read-only views, the strategy base and the sync bridge's early stop."""

from __future__ import annotations

import asyncio
import logging

import pydantic
import pytest

from prellm import ConfigError, PreLLM
from prellm.config.prompts import PromptRegistry
from prellm.config.schema import DomainRule
from prellm.observability.logging import ScrubSecrets
from prellm.observability.trace import Trace
from prellm.rules import match_rules, normalize
from prellm.strategies import get_strategy
from prellm.structured import ask_json, extract_json
from prellm.sync import iterate_sync

# --- keyword folding (bug: capital Ø and Đ were not folded like ø and đ) ------------------


@pytest.mark.parametrize(
    ("upper", "lower", "folded"),
    [
        ("Ø", "ø", "o"),
        ("Đ", "đ", "d"),
        ("Ł", "ł", "l"),
        ("ØRSTED", "ørsted", "orsted"),
        ("ĐAKOVO", "đakovo", "dakovo"),
    ],
)
def test_normalize_folds_both_cases_of_letters_without_a_decomposition(upper, lower, folded):
    assert normalize(upper) == normalize(lower) == folded


def test_a_keyword_with_a_capital_slashed_letter_matches_its_lower_case():
    rule = DomainRule.model_validate({"name": "energy", "keywords": ["Ørsted"]})
    hit = match_rules("what does ørsted report", [rule])
    assert hit is not None and hit.rule.name == "energy"
    assert match_rules("ØRSTED wind farms", [rule]) is not None


# --- JSON from model output ---------------------------------------------------------------


def test_extract_json_reads_a_fenced_block_and_ignores_chatter_after_it():
    assert extract_json('Here:\n```json\n{"x": 1}\n```\nbye {not json}') == {"x": 1}


def test_ask_json_lets_an_unknown_model_config_error_through():
    class Answer(pydantic.BaseModel):
        x: int

    with pytest.raises(ConfigError, match="unknown model 'totally-unknown-model-xyz'"):
        asyncio.run(
            ask_json(
                "totally-unknown-model-xyz",
                [{"role": "user", "content": "hi"}],
                Answer,
                schema_name="a",
                prompts=PromptRegistry.default(),
                params={},
                stage="s",
                role="small",
            )
        )


# --- log scrubbing and traces -------------------------------------------------------------


def test_scrubber_handles_a_bad_format_by_scrubbing_the_raw_message():
    record = logging.LogRecord(
        "prellm", logging.INFO, __file__, 1, "mail jan@firma.pl count %d", ("many",), None
    )
    assert ScrubSecrets().filter(record) is True
    assert record.args is None
    assert record.getMessage() == "mail [EMAIL_1] count %d"


def test_a_trace_without_a_hide_function_keeps_values_as_they_are():
    t = Trace()
    t.step("analyse", query="mail jan@firma.pl", items=[1, 2])
    assert t.steps == [{"step": "analyse", "query": "mail jan@firma.pl", "items": [1, 2]}]


def test_a_trace_with_a_hide_function_hides_nested_text():
    t = Trace(hide=lambda s: s.replace("secret", "***"))
    t.step("x", data={"a": ["secret one", 2]}, note="secret")
    assert t.steps == [{"step": "x", "data": {"a": ["*** one", 2]}, "note": "***"}]


# --- the engine and strategies --------------------------------------------------------------


def test_engine_exposes_its_prompts_and_a_copy_of_its_intents():
    engine = PreLLM("test/echo", "test/echo")
    assert "analyze.classify" in engine.prompts.prompts
    intents = engine.intents
    assert intents and all("name" in i for i in intents)
    intents.clear()
    assert engine.intents  # a copy: the engine's taxonomy is unchanged


def test_a_strategy_without_a_small_call_has_no_analysis_fields():
    assert get_strategy("passthrough").prompt is None
    assert get_strategy("passthrough").fields(None) == {}


# --- the sync bridge ------------------------------------------------------------------------


async def test_stopping_a_sync_iteration_early_inside_a_loop_stops_the_producer():
    produced: list[int] = []
    closed: list[bool] = []

    async def many():
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.append(True)

    it = iterate_sync(many)
    assert next(it) == 0
    it.close()  # the consumer is done after one item
    assert len(produced) < 1000  # the producer stopped instead of running to its end
    assert closed == [True]
