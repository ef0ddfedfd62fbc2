"""``prellm eval classify`` and ``prellm eval compare`` from the shell: text reports,
taxonomy files, interrupted runs, and the checks of their options."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from prellm.cli.main import cli
from prellm.providers.testing import register_function


@pytest.fixture(autouse=True)
def _eval_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PRELLM_EVAL_DIR", str(tmp_path / "eval"))


def invoke(*args: str):
    return CliRunner().invoke(cli, ["eval", *args], env={"COLUMNS": "250"})


def _labeller(messages, params):
    """Labels by keyword: 'money' is a refund, anything else a greeting."""
    text = messages[-1]["content"].split('Request: """')[-1]
    intent = "refund" if "money" in text else "greet"
    return json.dumps(
        {"intent": intent, "confidence": 0.9, "domain": "bank", "language": "en", "missing": []}
    )


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "bank.csv"
    path.write_text(
        "text,label\nhello there,greet\ngive my money back,refund\nmoney please,greet\n"
    )
    return path


def test_classify_text_report_names_the_worst_confusions(dataset):
    small = register_function("cli_labeller", _labeller)
    r = invoke("classify", str(dataset), "--small", small)
    assert r.exit_code == 0, r.stderr
    assert "worst confusions: greet → refund ×1" in r.stdout
    assert "0.6667" in r.stdout  # accuracy: two of three


def test_classify_with_a_taxonomy_file_uses_its_labels(dataset, tmp_path):
    small = register_function("cli_labeller_tax", _labeller)
    tax = tmp_path / "labels.yaml"
    tax.write_text(
        "intents:\n  - name: greet\n    description: saying hello\n"
        "  - name: refund\n    description: wants money back\n  - name: bye\n"
    )
    r = invoke("classify", str(dataset), "--small", small, "--taxonomy", str(tax), "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["items"] == 3 and report["accuracy"] == 0.6667
    assert report["shortlist_k"] is None  # three labels: every one is offered


def test_classify_with_a_broken_taxonomy_exits_2(dataset, tmp_path):
    tax = tmp_path / "labels.yaml"
    tax.write_text("intents:\n  - name: greet\n  - name: greet\n")
    r = invoke("classify", str(dataset), "--small", "test/echo", "--taxonomy", str(tax))
    assert r.exit_code == 2 and "duplicate label names" in r.stderr
    r = invoke("classify", str(dataset), "--small", "test/echo", "--taxonomy", str(tmp_path / "x"))
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_classify_refuses_both_shortlist_options(dataset):
    r = invoke(
        "classify", str(dataset), "--small", "test/echo", "--shortlist", "3", "--no-shortlist"
    )
    assert r.exit_code == 2 and "--no-shortlist and --shortlist K: choose one" in r.stderr


def test_an_interrupted_classify_says_how_to_resume(dataset):
    def interrupt_on_money(messages, params):
        if "money" in messages[-1]["content"].split('Request: """')[-1]:
            raise KeyboardInterrupt
        return _labeller(messages, params)

    small = register_function("cli_interrupted", interrupt_on_money)
    r = invoke("classify", str(dataset), "--small", small, "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["interrupted"] is True and report["items"] == 1 and report["of"] == 3
    assert "interrupted: partial results; run again to resume (cache " in r.stderr
    assert report["cache"] in r.stderr


def test_compare_names_its_options_errors():
    r = invoke("compare", "--strategies", "passthrough,magic", "--small", "test/echo")
    assert r.exit_code == 2 and "unknown strategy 'magic'" in r.stderr
    r = invoke(
        "compare",
        "p.jsonl",
        "--text-field",
        "prompt",
        "--rewrite-field",
        "better",
        "--rewrite-name",
        "classify",
    )
    assert r.exit_code == 2 and "'classify' is a strategy's name" in r.stderr
    r = invoke("compare", "p.jsonl", "--rewrite-field", "better")
    assert r.exit_code == 2 and "--rewrite-field needs --text-field" in r.stderr


def test_compare_with_an_unreadable_task_file_exits_2(tmp_path):
    r = invoke(
        "compare", str(tmp_path / "none.yaml"), "--small", "test/echo", "--large", "test/echo"
    )
    assert r.exit_code == 2 and "none.yaml: cannot read" in r.stderr


def test_compare_text_table_and_html_report_for_a_prompt_set(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps({"prompt": "Deploy app", "better": "Deploy the app to Kubernetes"}) + "\n"
    )
    judge = register_function(
        "cli_cmp_judge", lambda m, p: json.dumps({"reason": "same", "winner": "tie"})
    )
    page = tmp_path / "report.html"
    r = invoke(
        "compare",
        str(prompts),
        "--text-field",
        "prompt",
        "--rewrite-field",
        "better",
        "--rewrite-name",
        "bpo",
        "--strategies",
        "passthrough,structure",
        "--small",
        "test/echo",
        "--large",
        "test/echo",
        "--judge",
        judge,
        "--report",
        str(page),
    )
    assert r.exit_code == 0, r.stderr
    assert f"report written to {page}" in r.stderr
    assert "W/T/L vs bpo" in r.stdout and "W/T/L vs passthrough" in r.stdout
    assert "checks passed" not in r.stdout  # a prompt set has no checks
    assert "cost USD" not in r.stdout  # test models cost nothing
    html = page.read_text()
    assert "judge " + judge in html and "win rate vs bpo" in html
