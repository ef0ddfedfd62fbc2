"""The decomposition cache: the same analysis asked again costs no small-model call.

Hits, misses on anything the analysis depends on (query, strategy, caller, context),
expiry, the off switches, redacted requests and fallbacks never stored; on SQLite and,
when configured, PostgreSQL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_backends_fixtures import backend  # noqa: F401 - the fixture

from prellm import PreLLM
from prellm.cli.main import cli
from prellm.providers.testing import recorded_requests, register_function
from prellm.request.cache import NAMESPACE
from prellm.store.cache import StateCache

QUERY = "Deploy the billing app to production"
SMALL = "test/echo"


@pytest.fixture
def large() -> str:
    return register_function("cache_large", lambda messages, params: "the answer")


def small_calls() -> int:
    return len(recorded_requests(SMALL))


def stored() -> int:
    return StateCache.shared().size(NAMESPACE)


def test_the_same_request_again_is_a_hit_with_no_small_call(backend, large):  # noqa: F811
    engine = PreLLM(SMALL, large, strategy="structure")
    first = engine.run(QUERY, trace=True)
    assert first.cache == "miss" and small_calls() == 1 and stored() == 1
    second = engine.run(QUERY, trace=True)
    assert second.cache == "hit" and small_calls() == 1
    assert second.small_model_used is None and not [s for s in second.stages if s.role == "small"]
    assert second.decomposition == first.decomposition and second.strategy == "structure"
    # The large model gets the same composed prompt as the first time.
    sent = [r["messages"] for r in recorded_requests(large)]
    assert sent[0] == sent[1]
    trace = json.loads(Path(str(second.trace_path)).with_suffix(".json").read_text())
    step = next(s for s in trace["steps"] if s["step"] == "decomposition cache")
    assert step["result"] == "hit"
    # Another engine with the same configuration (another worker) finds it too, and
    # whitespace differences do not matter.
    again = PreLLM(SMALL, large, strategy="structure").run(
        "  Deploy the billing app\n to production "
    )
    assert again.cache == "hit" and small_calls() == 1


def test_auto_keeps_the_strategy_it_picked(large):
    engine = PreLLM(SMALL, large, strategy="auto")
    first = engine.run(QUERY)
    second = engine.run(QUERY)
    assert second.cache == "hit" and second.strategy == first.strategy
    assert second.requested_strategy == "auto" and small_calls() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"query": "Deploy the billing app to staging"},
        {"strategy": "enrich"},
        {"budget_key": "sk-another-caller-0001"},
        {"user": "someone-else"},
        {"user_context": "We use Kubernetes on GKE"},
        {
            "messages_before": [
                ("user", "What is our release policy?"),
                ("assistant", "Fridays off."),
            ]
        },
    ],
    ids=["query", "strategy", "api-key", "user", "context", "history"],
)
def test_anything_the_analysis_depends_on_is_part_of_the_key(large, change):
    engine = PreLLM(SMALL, large, strategy="classify")
    engine.run(QUERY, budget_key="sk-first-caller-0001", user="alice")
    assert small_calls() == 1
    options = {"budget_key": "sk-first-caller-0001", "user": "alice", "strategy": "classify"}
    query = change.get("query", QUERY)
    options.update({k: v for k, v in change.items() if k not in ("query", "messages_before")})
    if "messages_before" in change:
        history = [{"role": r, "content": c} for r, c in change["messages_before"]]
        options["messages"] = [*history, {"role": "user", "content": query}]
        query = None
    r = engine.run(query, **options)
    assert r.cache == "miss" and small_calls() == 2
    # The first caller's own request still hits.
    hit = engine.run(QUERY, budget_key="sk-first-caller-0001", user="alice")
    assert hit.cache == "hit" and small_calls() == 2


def test_virtual_keys_of_different_teams_do_not_share(large):
    from prellm.store.keys import Principal

    engine = PreLLM(SMALL, large, strategy="classify")
    one = Principal(kind="virtual", key_id="k1", team_id="t1")
    two = Principal(kind="virtual", key_id="k2", team_id="t2")
    assert engine.run(QUERY, principal=one).cache == "miss"
    assert engine.run(QUERY, principal=two).cache == "miss"
    assert engine.run(QUERY, principal=one).cache == "hit" and small_calls() == 2


def test_an_entry_expires_after_the_ttl(large, monkeypatch):
    monkeypatch.setenv("PRELLM_CACHE_TTL", "0.05")
    engine = PreLLM(SMALL, large, strategy="classify")
    assert engine.run(QUERY).cache == "miss"
    time.sleep(0.2)  # well past the TTL: the entry has expired, whatever the machine's load
    assert engine.run(QUERY).cache == "miss" and small_calls() == 2


def test_the_off_switches(large, monkeypatch):
    engine = PreLLM(SMALL, large, strategy="classify")
    assert engine.run(QUERY, cache=False).cache == "off"
    assert stored() == 0  # nothing stored either
    assert engine.run(QUERY).cache == "miss"
    assert engine.run(QUERY, cache=False).cache == "off" and small_calls() == 3
    monkeypatch.setenv("PRELLM_CACHE_TTL", "0")
    assert engine.run(QUERY).cache == "off" and small_calls() == 4
    # passthrough has nothing to cache; the ledger off means no state store
    assert engine.run(QUERY, strategy="passthrough").cache == "off"
    assert PreLLM(SMALL, large, strategy="classify", budget=False).run(QUERY).cache == "off"


def test_the_cli_no_cache_flag(large, monkeypatch):
    def run(*extra: str) -> dict:
        args = [QUERY, "--small", SMALL, "--large", large, "--strategy", "classify", "--json"]
        r = CliRunner().invoke(cli, [*args, *extra])
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)

    assert run()["cache"] == "miss"
    assert run()["cache"] == "hit" and small_calls() == 1
    assert run("--no-cache")["cache"] == "off" and small_calls() == 2


def test_a_request_with_redacted_values_is_never_cached(large):
    secret = "Deploy with the key sk-proj-Zq8vR2mXk9LpT4wY7nB3cF6hJ1dG5sA0 to production"
    engine = PreLLM(SMALL, large, strategy="classify")
    first = engine.run(secret)
    assert first.redactions and first.cache == "off"
    assert engine.run(secret).cache == "off" and small_calls() == 2
    assert stored() == 0
    # The same holds when the value is in the context or the history, not the query.
    r = engine.run(QUERY, user_context="Contact: jan.kowalski@firma.pl")
    assert r.cache == "off" and stored() == 0
    # Checking does not change what the request redacts or reports.
    assert engine.run(secret, cache=False).redactions == first.redactions


def test_a_fallback_is_never_cached(large):
    engine = PreLLM("test/invalid", large, strategy="classify")
    first = engine.run(QUERY)
    assert first.decomposition.fallback_reason and first.cache == "miss"
    second = engine.run(QUERY)
    assert second.decomposition.fallback_reason and second.cache == "miss"
    assert len(recorded_requests("test/invalid")) == 4  # two requests, each with a repair
    assert stored() == 0


def test_a_changed_prompt_or_taxonomy_is_a_miss(large):
    engine = PreLLM(SMALL, large, strategy="classify")
    engine.run(QUERY)
    intents = [{"name": "deploy", "description": "ship"}, {"name": "other", "description": "x"}]
    assert PreLLM(SMALL, large, strategy="classify", intents=intents).run(QUERY).cache == "miss"
    from prellm.config.prompts import PromptRegistry, PromptSpec

    prompts = dict(PromptRegistry.default().prompts)
    name = next(iter(prompts))
    prompts[name] = PromptSpec(text=prompts[name].text + "\n")
    changed = PreLLM(SMALL, large, strategy="classify", prompts=PromptRegistry(prompts))
    assert changed.run(QUERY).cache == "miss" and small_calls() == 3


def test_a_hit_shows_in_the_stream(large):
    engine = PreLLM(SMALL, large, strategy="classify")
    engine.run(QUERY)
    events = [e for e in engine.stream(QUERY) if getattr(e, "stage", None) == "small"]
    assert [(e.status, e.detail["cache"]) for e in events] == [("done", "hit")]
