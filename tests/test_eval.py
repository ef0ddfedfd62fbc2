"""prellm eval: metrics on known inputs, datasets, resumption, judge with position swapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from prellm import ConfigError
from prellm.cli.main import cli
from prellm.config.schema import IntentSpec
from prellm.eval import metrics
from prellm.eval.classify import run_classify
from prellm.eval.compare import run_compare, score_checks
from prellm.eval.data import (
    Checks,
    Task,
    Taxonomy,
    load_dataset,
    load_tasks,
    load_taxonomy,
    sample,
    taxonomy_from_labels,
)
from prellm.intents import LabelIndex
from prellm.providers.testing import recorded_requests, register_function

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _eval_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PRELLM_EVAL_DIR", str(tmp_path / "eval"))


def test_metrics_on_known_inputs():
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", None]
    assert metrics.accuracy(gold, pred) == 0.6
    # F1: a = 2*1*0.5/1.5 = 0.6667; b = 2*(2/3)*1/(5/3) = 0.8; c = 0
    assert metrics.macro_f1(gold, pred) == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert metrics.confusions(gold, pred) == [("a", "b", 1), ("c", "(none)", 1)]
    assert metrics.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert metrics.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10


def test_dataset_errors_are_clear(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_dataset(empty)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("sentence,label\nhi,greet\n")
    with pytest.raises(ConfigError, match="nocol.csv:1: no column 'text'"):
        load_dataset(nocol)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "label": "greet"}\n{"text": "x"\n')
    with pytest.raises(ConfigError, match="bad.jsonl:2: not valid JSON"):
        load_dataset(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"text": "hi", "label": ""}\n')
    with pytest.raises(ConfigError, match="missing.jsonl:1: missing 'label'"):
        load_dataset(missing)


def test_unknown_label_in_taxonomy_is_an_error(tmp_path):
    tax = tmp_path / "tax.yaml"
    tax.write_text("intents:\n  - name: greet\n    description: saying hello\n  - name: bye\n")
    rows = [{"text": "hi", "label": "greet"}, {"text": "refund please", "label": "refund"}]
    with pytest.raises(ConfigError, match="not in the taxonomy: refund"):
        run_classify(rows, "test/echo", load_taxonomy(tax), dataset=str(tax))
    tax.write_text("intents: [{name: only}]\n")
    with pytest.raises(ConfigError, match="tax.yaml: intents"):
        load_taxonomy(tax)


def _labeller(calls: list[str]):
    """A small model that labels by keyword, as JSON in the classify schema."""

    def fn(messages, params):
        text = messages[-1]["content"].split('Request: """')[-1]
        calls.append(text)
        intent = "refund" if "money" in text else "greet"
        return json.dumps(
            {"intent": intent, "confidence": 0.9, "domain": "bank", "language": "en", "missing": []}
        )

    return fn


def test_classify_report_and_resumption():
    calls: list[str] = []
    small = register_function("labeller", _labeller(calls))
    rows = [
        {"text": "hello there", "label": "greet"},
        {"text": "give my money back", "label": "refund"},
        {"text": "hi", "label": "greet"},
        {"text": "money money", "label": "greet"},
    ]
    tax = taxonomy_from_labels(["greet", "refund"])
    seen = []

    def stop_after_two(done, total):
        seen.append(done)
        if done == 2:
            raise KeyboardInterrupt

    partial = run_classify(rows, small, tax, dataset="mem", on_item=stop_after_two)
    assert partial["interrupted"] and partial["items"] == 2 and partial["accuracy"] == 1.0
    report = run_classify(rows, small, tax, dataset="mem")
    assert len(calls) == 4  # the two done items came from the cache
    assert report["items"] == 4 and report["accuracy"] == 0.75
    assert report["valid_output_rate"] == 1.0 and report["fallbacks"] == 0
    assert report["worst_confusions"] == [{"gold": "greet", "predicted": "refund", "count": 1}]
    schema = recorded_requests(small)[0]["params"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["intent"]["enum"] == ["greet", "refund"]
    assert run_classify(rows, small, tax, dataset="mem")["accuracy"] == 0.75 and len(calls) == 4


def test_shortlist_retrieves_related_labels():
    tax = taxonomy_from_labels(
        ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"]
    )
    index = LabelIndex(tax.intents)
    assert index.rank("my card was stolen yesterday", 2)[0].name == "lost_or_stolen_card"
    assert "exchange_rate" in [c.name for c in index.rank("what exchange rate do you use", 2)]


def test_shortlist_ranks_by_examples_and_shows_the_closest_one():
    tax = Taxonomy(
        intents=[
            IntentSpec(name="refund", examples=["I want my money back", "return this order"]),
            IntentSpec(name="greet", examples=["hello there", "good morning to you"]),
            IntentSpec(name="delivery", examples=["where is my parcel", "order not arrived"]),
        ]
    )
    ranked = LabelIndex(tax.intents).rank("good morning, team", 2)
    assert [c.name for c in ranked][0] == "greet"
    assert ranked[0].closest_example == "good morning to you"
    assert len(ranked) == 2 and ranked[0].score > ranked[1].score


def test_two_stage_classify_asks_the_model_among_the_shortlist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls: list[str] = []
    small = register_function("shortlister", _labeller(calls))
    tax = Taxonomy(
        intents=[
            IntentSpec(name="refund", examples=["I want my money back"]),
            IntentSpec(name="greet", examples=["hello there", "good morning to you"]),
            IntentSpec(name="delivery", examples=["where is my parcel"]),
        ]
    )
    rows = [{"text": "good morning, friends", "label": "greet"}]
    report = run_classify(rows, small, tax, dataset="mem", shortlist_k=2)
    assert report["accuracy"] == 1.0 and report["shortlist_k"] == 2
    sent = recorded_requests(small)[0]
    schema = sent["params"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["intent"]["enum"][0] == "greet"
    assert len(schema["properties"]["intent"]["enum"]) == 2
    prompt = sent["messages"][-1]["content"]
    assert '- greet: greet (e.g. "good morning to you")' in prompt


def test_classify_through_litellm_against_an_openai_compatible_server(provider):
    provider.responder = lambda body: json.dumps(
        {"intent": "greet", "confidence": 1, "domain": "x", "language": "en", "missing": []}
    )
    import os

    os.environ["OPENAI_API_BASE"], os.environ["OPENAI_API_KEY"] = provider.url, "sk-x"
    try:
        report = run_classify(
            [{"text": "hi", "label": "greet"}],
            "openai/small",
            taxonomy_from_labels(["greet", "bye"]),
            dataset="x",
        )
    finally:
        del os.environ["OPENAI_API_BASE"], os.environ["OPENAI_API_KEY"]
    assert report["accuracy"] == 1.0 and provider.requests[0]["temperature"] == 0


def test_checks_scoring():
    checks = Checks(contains=["kubectl"], regex=[r"rollout\s+undo"], json_schema=None)
    assert score_checks("Run kubectl rollout undo deploy/web", checks) == (2, 2, [])
    passed, total, failures = score_checks(
        '{"a": 1}', Checks(json_schema={"type": "object", "required": ["b"]})
    )
    assert (passed, total) == (0, 1) and "JSON schema" in failures[0]


def test_compare_with_a_position_swapping_judge():
    large = register_function(
        "answers", lambda m, p: "kubectl rollout undo" if "Goal:" in m[-1]["content"] else "no idea"
    )

    # A judge that prefers the answer mentioning kubectl wherever it stands.
    def judge_fn(messages, params):
        text = messages[-1]["content"]
        a = text.split("Answer A:")[1].split("Answer B:")[0]
        return json.dumps({"winner": "A" if "kubectl" in a else "B", "reason": "mentions kubectl"})

    biased = register_function(
        "biased", lambda m, p: json.dumps({"winner": "A", "reason": "first is best"})
    )
    judge = register_function("judge", judge_fn)
    tasks = [Task(id="t1", query="Roll back my deploy", checks=Checks(contains=["kubectl"]))]
    report = run_compare(tasks, "test/echo", large, ["structure", "classify"], judge_model=judge)
    s = report["strategies"]
    assert s["structure"]["wins"] == 1 and s["structure"]["win_rate_vs_passthrough"] == 1.0
    assert s["structure"]["check_pass_rate"] == 1.0 and s["passthrough"]["check_pass_rate"] == 0.0
    assert (
        s["classify"]["losses"] == 0 and s["classify"]["ties"] == 1
    )  # both answers equal: the judge's pick flips
    report = run_compare(tasks, "test/echo", large, ["structure"], judge_model=biased, seed=1)
    assert report["strategies"]["structure"]["ties"] == 1  # a pure position bias cancels out


def test_builtin_tasks_and_cli_reports(tmp_path):
    tasks = load_tasks("builtin")
    assert len(tasks) >= 30 and any("Wdróż" in t.query for t in tasks)
    data = tmp_path / "d.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"utterance": t, "intent": lb})
            for t, lb in [("hi", "greet"), ("bye now", "bye"), ("hello", "greet")]
        )
    )
    report = tmp_path / "r.html"
    r = CliRunner().invoke(
        cli,
        [
            "eval",
            "classify",
            str(data),
            "--small",
            "test/echo",
            "--text-column",
            "utterance",
            "--label-column",
            "intent",
            "--json",
            "--report",
            str(report),
        ],
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["items"] == 3
    page = report.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "accuracy" in page
    r = CliRunner().invoke(
        cli,
        [
            "eval",
            "compare",
            "builtin",
            "--small",
            "test/echo",
            "--large",
            "test/echo",
            "--limit",
            "3",
            "--json",
        ],
    )
    assert r.exit_code == 0 and set(json.loads(r.stdout)["strategies"]) == {
        "passthrough",
        "classify",
        "structure",
        "enrich",
    }
    r = CliRunner().invoke(
        cli, ["eval", "classify", str(tmp_path / "nope.csv"), "--small", "test/echo"]
    )
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_banking77_sample_is_fixed():
    rows = load_dataset(SHARED / "banking77" / "test.csv", "text", "category")
    assert len(rows) == 3080
    a, b = sample(rows, 20, seed=0), sample(rows, 20, seed=0)
    assert a == b and len({r["label"] for r in a}) > 5


@pytest.mark.slow
def test_eval_classify_on_banking77_with_the_embedded_model():
    rows = sample(load_dataset(SHARED / "banking77" / "test.csv", "text", "category"), 4, seed=0)
    labels = json.loads((SHARED / "banking77" / "categories.json").read_text())
    report = run_classify(
        rows, "local/qwen2.5-coder-1.5b", taxonomy_from_labels(labels), dataset="banking77"
    )
    assert report["items"] == 4 and report["valid_output_rate"] == 1.0 and report["fallbacks"] == 0
    assert 0 <= report["accuracy"] <= 1 and report["latency_ms_p50"] > 0


def test_compare_through_litellm_against_an_openai_compatible_server(provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")

    def respond(body):
        text = body["messages"][-1]["content"]
        if "Answer A:" in text:  # the judge
            return json.dumps({"winner": "tie", "reason": "same"})
        return "Use kubectl rollout undo deployment/web"

    provider.responder = respond
    tasks = [
        Task(id="t", query="Roll back my deployment", checks=Checks(contains=["rollout undo"]))
    ]
    report = run_compare(tasks, "test/echo", "openai/big", ["classify"], judge_model="openai/judge")
    assert report["strategies"]["classify"]["check_pass_rate"] == 1.0
    assert report["strategies"]["classify"]["ties"] == 1
    judged = [r for r in provider.requests if r["model"] == "judge"]
    assert len(judged) == 2 and judged[0]["temperature"] == 0


@pytest.mark.slow
def test_eval_compare_on_the_embedded_model():
    tasks = load_tasks("builtin")[:1]
    report = run_compare(
        tasks,
        "local/qwen2.5-coder-1.5b",
        "local/qwen2.5-coder-1.5b",
        ["classify"],
        judge_model="local/qwen2.5-coder-1.5b",
        max_tokens=32,
    )
    s = report["strategies"]
    assert s["passthrough"]["errors"] == 0 and s["classify"]["errors"] == 0
    assert s["classify"]["wins"] + s["classify"]["ties"] + s["classify"]["losses"] == 1


def test_a_limited_sample_still_chooses_among_all_the_datasets_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = register_function("all_labels", _labeller([]))
    data = tmp_path / "d.csv"
    data.write_text("text,label\nhello,greet\nmoney back,refund\nbye,farewell\n")
    r = CliRunner().invoke(
        cli, ["eval", "classify", str(data), "--small", small, "--limit", "1", "--json"]
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["items"] == 1
    schema = recorded_requests(small)[0]["params"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["intent"]["enum"] == ["farewell", "greet", "refund"]


@pytest.mark.parametrize("extra", [[], ["--examples", "0"]])
def test_a_derived_taxonomy_lends_unevaluated_items_to_the_shortlist(tmp_path, monkeypatch, extra):
    monkeypatch.chdir(tmp_path)
    small = register_function(f"lender{len(extra)}", _labeller([]))
    data = tmp_path / "d.csv"
    data.write_text(
        "text,label\n"
        "please give my money back,refund\n"
        "refund my money for the broken lamp,refund\n"
        "hello there friend,greet\n"
        "good morning friend,greet\n"
        "where is my parcel,delivery\n"
    )
    r = CliRunner().invoke(
        cli,
        ["eval", "classify", str(data), "--small", small, "--shortlist", "2", "--json"]
        + ["--limit", "1", "--seed", "3", *extra],
    )
    assert r.exit_code == 0, r.stderr
    evaluated = recorded_requests(small)[0]["messages"][-1]["content"].split('Request: """')[1]
    evaluated = evaluated.rstrip('"\n')
    prompt = recorded_requests(small)[0]["messages"][-1]["content"].split("Request:")[0]
    # Candidates come with examples from the dataset (unless --examples 0), never
    # with the evaluated text itself.
    assert ('(e.g. "' in prompt) == (not extra)
    assert evaluated not in prompt
