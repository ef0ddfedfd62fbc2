"""``run_compare`` on its edge cases: failing answers, an unparseable judge, interruption
and resumption, and the ``cost USD`` column of ``prellm eval compare``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from prellm.cli.main import cli
from prellm.eval.compare import run_compare
from prellm.eval.data import Checks, Task
from prellm.providers.testing import recorded_requests, register_function


@pytest.fixture(autouse=True)
def _eval_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PRELLM_EVAL_DIR", str(tmp_path / "eval"))


TASK = Task(id="t1", query="Roll back my deploy", checks=Checks(contains=["kubectl"]))


def test_a_failing_large_model_is_counted_as_errors_not_raised():
    report = run_compare([TASK], "test/echo", "test/fail", ["classify"], judge_model="test/echo")
    for name in ("passthrough", "classify"):
        s = report["strategies"][name]
        assert s["errors"] == 1 and s["check_pass_rate"] == 0.0
        assert s["seconds_p50"] is None and s["small_seconds_mean"] is None
        assert s["wins"] == s["ties"] == s["losses"] == 0  # nothing to judge
    item = report["items"]["classify"][0]
    assert "test model configured to fail" in item["error"] and item["answer"] == ""
    assert item["failures"] == ["missing 'kubectl'"]


def test_only_a_failed_passthrough_leaves_the_strategy_unjudged():
    def large(messages, params):
        if "Goal:" not in messages[-1]["content"]:
            raise RuntimeError("passthrough prompts break this model")
        return "kubectl rollout undo"

    model = register_function("cmp_half", large)
    judge = register_function("cmp_judge_unused", lambda m, p: '{"winner": "A", "reason": "x"}')
    report = run_compare([TASK], "test/echo", model, ["structure"], judge_model=judge)
    s = report["strategies"]
    assert s["passthrough"]["errors"] == 1 and s["structure"]["errors"] == 0
    assert s["structure"]["check_pass_rate"] == 1.0
    assert report["items"]["structure"][0]["judge_picks"] == {}
    assert recorded_requests(judge) == []


def test_a_judge_reply_that_is_not_json_counts_as_a_tie():
    large = register_function(
        "cmp_answers", lambda m, p: "kubectl rollout undo" if "Goal:" in m[-1]["content"] else "?"
    )
    rambling = register_function("cmp_rambling", lambda m, p: "I think both are fine really")
    listed = register_function("cmp_listed", lambda m, p: '["A"]')  # JSON, but no object
    for judge in (rambling, listed):
        report = run_compare([TASK], "test/echo", large, ["structure"], judge_model=judge)
        s = report["strategies"]["structure"]
        assert (s["wins"], s["ties"], s["losses"]) == (0, 1, 0), judge
        assert report["items"]["structure"][0]["judge_picks"] == {"passthrough": "tie/tie"}


def test_an_interrupted_compare_keeps_what_was_done_and_resumes_from_the_cache():
    calls: list[str] = []

    def large(messages, params):
        calls.append(messages[-1]["content"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return "kubectl rollout undo"

    model = register_function("cmp_ctrl_c", large)
    first = run_compare([TASK], "test/echo", model, ["structure"])
    assert first["interrupted"] is True
    assert first["strategies"]["passthrough"]["tasks"] == 1
    assert first["strategies"]["structure"]["tasks"] == 0
    again = run_compare([TASK], "test/echo", model, ["structure"])
    assert again["interrupted"] is False and again["cache"] == first["cache"]
    assert len(calls) == 3  # passthrough came from the cache; structure ran once more
    assert again["strategies"]["structure"]["check_pass_rate"] == 1.0


def test_compare_table_shows_cost_for_priced_models(provider, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("- query: Roll back my deployment\n  checks: {contains: [undo]}\n")
    provider.responder = lambda body: "kubectl rollout undo deployment/web"
    r = CliRunner().invoke(
        cli,
        ["eval", "compare", str(tasks), "--small", "test/echo", "--large", "openai/gpt-4o-mini"]
        + ["--strategies", "passthrough", "--json"],
        env={"COLUMNS": "250"},
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["strategies"]["passthrough"]["cost_usd"] > 0
    r = CliRunner().invoke(
        cli,
        ["eval", "compare", str(tasks), "--small", "test/echo", "--large", "openai/gpt-4o-mini"]
        + ["--strategies", "passthrough"],
        env={"COLUMNS": "250"},
    )
    assert r.exit_code == 0, r.stderr
    assert "cost USD" in r.stdout and "checks passed" in r.stdout
