"""The algorithmic steps a pipeline may name (``match_rules``, ``redact``, ``merge``,
``compress_context``, ``runtime``), called on a run as the pipeline runner calls them."""

from __future__ import annotations

from prellm.config.schema import DomainRule
from prellm.pipelines.functions import FUNCTIONS
from prellm.pipelines.run import Run
from prellm.safety import SensitiveDataFilter

RULE = DomainRule.model_validate(
    {
        "name": "deploy",
        "keywords": ["deploy"],
        "strategy": "structure",
        "policy": "ask",
        "context": "We deploy with Helm.",
        "require": [{"name": "environment", "keywords": ["staging", "production"]}],
    }
)


def _run(query: str, guard: SensitiveDataFilter | None = None) -> Run:
    return Run(variables={"query": query}, rules=[RULE], guard=guard)


def test_match_rules_reports_the_rule_and_what_the_request_lacks():
    out = FUNCTIONS["match_rules"](_run("please deploy the api"))
    assert out == {
        "name": "deploy",
        "strategy": "structure",
        "policy": "ask",
        "missing": ["environment"],
        "context": "We deploy with Helm.",
    }
    assert FUNCTIONS["match_rules"](_run("write a poem")) is None


def test_redact_uses_the_requests_guard_and_passes_text_through_without_one():
    text = "charge card 4012 8888 8888 1881 today"
    guarded = FUNCTIONS["redact"](_run("q", SensitiveDataFilter()), text)
    assert guarded == "charge card [CARD_1] today"
    assert FUNCTIONS["redact"](_run("q"), text) == text
    assert FUNCTIONS["redact"](_run("q"), 42) == "42"


def test_merge_fills_gaps_in_order_and_joins_lists_once():
    items = [
        {"intent": "", "missing": ["a", "b"], "domain": "ops"},
        "not a dict",
        {"intent": "deploy", "missing": ["b", "c"], "domain": "dev", "extra": {}},
        {"extra": {"k": 1}},
    ]
    assert FUNCTIONS["merge"](_run("q"), items) == {
        "intent": "deploy",  # the first was empty: the later one fills it
        "missing": ["a", "b", "c"],
        "domain": "ops",  # the first non-empty value stays
        "extra": {"k": 1},
    }
    assert FUNCTIONS["merge"](_run("q"), None) == {}


def test_compress_context_needs_a_path_and_summarises_within_budget(tmp_path):
    assert FUNCTIONS["compress_context"](_run("q"), None) is None
    (tmp_path / "deploy.py").write_text("def deploy_api():\n    return 'helm upgrade'\n")
    out = FUNCTIONS["compress_context"](_run("how do we deploy the api"), str(tmp_path), "400")
    assert "deploy.py" in out


def test_runtime_describes_the_machine():
    assert FUNCTIONS["runtime"](_run("q")).startswith("Runtime: OS ")
