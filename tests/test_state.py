"""Traces, the budget ledger, user memory, doctor and models."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from prellm import (
    BudgetExceededError,
    ConfigError,
    PreLLM,
    preprocess_and_execute,
    preprocess_and_execute_sync,
)
from prellm.cli.main import cli
from prellm.store import BudgetTracker, Limits, UserMemory

PRICED = "openai/gpt-4o-mini"  # priced by litellm's table; served by the recording server


@pytest.mark.parametrize(
    "strategy", ["classify", "structure", "split", "enrich", "auto", "passthrough"]
)
def test_a_trace_shows_every_stage_and_keeps_redactions(strategy, tmp_path):
    secret = "sk-proj-" + "Q" * 40
    r = preprocess_and_execute_sync(
        f"Deploy app to prod and explain rollback, key {secret}",
        small_llm="test/echo",
        large_llm="test/echo",
        strategy=strategy,
        trace=True,
    )
    md = Path(r.trace_path)
    doc = json.loads(md.with_suffix(".json").read_text())
    text = md.read_text()
    assert secret not in text and secret not in json.dumps(doc)
    assert "[SECRET_1]" in text
    steps = [s["step"] for s in doc["steps"]]
    assert steps[0] == "query" and "strategy" in steps and steps[-1] == "large model"
    if strategy != "passthrough":
        assert "small model" in steps and "raw output" in text
    assert [s["stage"] for s in doc["stages"]] == [s.stage for s in r.stages]
    assert doc["strategy"]["chosen"] == r.strategy
    assert "## " in text and f"`{r.model_used}`" in text


def test_the_ledger_records_every_call_with_real_usage(provider, remote):
    provider.usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    r = preprocess_and_execute_sync(
        "hi", small_llm="test/echo", large_llm=PRICED, strategy="classify", **remote
    )
    report = BudgetTracker.shared().month_report()
    rows = {(x["model"], x["role"]): x for x in report["by_model"]}
    large = rows[(PRICED, "large")]
    assert large["prompt_tokens"] == 1000 and large["completion_tokens"] == 100
    assert large["cost_usd"] == pytest.approx(r.cost_usd["large"]) and r.cost_usd["large"] > 0
    assert rows[("test/echo", "small")]["cost_usd"] == 0


async def test_a_streamed_request_is_accounted_exactly_like_a_plain_one(provider, remote):
    provider.usage = {"prompt_tokens": 500, "completion_tokens": 50}
    stream = await preprocess_and_execute(
        "hi", small_llm="test/echo", large_llm=PRICED, strategy="passthrough", stream=True, **remote
    )
    result = [e async for e in stream][-1]
    plain = await preprocess_and_execute(
        "hi", small_llm="test/echo", large_llm=PRICED, strategy="passthrough", **remote
    )
    rows = [x for x in BudgetTracker.shared().month_report()["by_model"] if x["model"] == PRICED]
    assert (
        rows[0]["calls"] == 2
        and rows[0]["prompt_tokens"] == 1000
        and rows[0]["completion_tokens"] == 100
    )
    assert result.cost_usd["large"] == pytest.approx(plain.cost_usd["large"])


def test_over_budget_is_refused_before_any_call(provider, remote, monkeypatch):
    monkeypatch.setenv("PRELLM_MONTHLY_BUDGET", "0.0000001")
    with pytest.raises(BudgetExceededError, match="no call was made") as info:
        preprocess_and_execute_sync(
            "hi", small_llm="test/echo", large_llm=PRICED, strategy="classify", **remote
        )
    assert provider.requests == []
    assert info.value.exit_code == 1
    r = CliRunner().invoke(
        cli,
        ["hi", "--small", "test/echo", "--large", PRICED, "-s", "passthrough"],
        env={"OPENAI_API_BASE": provider.url, "OPENAI_API_KEY": "sk-x"},
    )
    assert r.exit_code == 1 and "monthly budget $0.0000 would be exceeded" in r.stderr
    assert provider.requests == []


def test_local_models_are_never_refused(monkeypatch):
    monkeypatch.setenv("PRELLM_MONTHLY_BUDGET", "0")
    assert preprocess_and_execute_sync("hi", small_llm="test/echo", large_llm="test/echo").content


def test_server_answers_402_when_over_budget(serve, provider, monkeypatch):
    import openai

    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("PRELLM_MONTHLY_BUDGET", "0.0000001")
    url = serve(small="test/echo", strategy="passthrough")
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model=f"prellm:{PRICED}", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 402 and "budget" in info.value.message
    assert provider.requests == []


WORKER = textwrap.dedent("""
    import asyncio, json, sys
    from prellm import PreLLM, BudgetExceededError
    async def one(engine):
        try:
            await engine.arun("hello", api_base=sys.argv[1], api_key="sk-x", max_tokens=100)
            return "ok"
        except BudgetExceededError:
            return "refused"
    async def main():
        engine = PreLLM("test/echo", "openai/gpt-4o-mini", "passthrough")
        print(json.dumps(await asyncio.gather(*[one(engine) for _ in range(10)])))
    asyncio.run(main())
""")


def test_no_overshoot_with_20_concurrent_requests_from_two_processes(provider, tmp_path):
    import time

    provider.usage = {
        "prompt_tokens": 400,
        "completion_tokens": 100,
    }  # what is reserved: the estimate holds

    def slow(body):
        time.sleep(0.3)  # keep reservations in flight at the same time
        return "ok"

    provider.responder = slow
    from prellm.request.admit import estimate_cost

    estimate = estimate_cost("test/echo", PRICED, "hello", {"max_tokens": 100})
    limit = estimate * 5.5
    env = {**os.environ, "PRELLM_MONTHLY_BUDGET": repr(limit)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, provider.url], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outcomes = [o for p in procs for o in json.loads(p.communicate(timeout=120)[0])]
    spent = BudgetTracker().month_report()["spent_usd"]
    assert outcomes.count("ok") + outcomes.count("refused") == 20
    assert outcomes.count("refused") > 0 and outcomes.count("ok") >= 1
    assert spent <= limit + estimate
    assert len(provider.requests) == outcomes.count("ok")


def test_budget_cli_report_json_and_reset(provider, remote):
    preprocess_and_execute_sync(
        "hi", small_llm="test/echo", large_llm=PRICED, strategy="passthrough", **remote
    )
    r = CliRunner().invoke(cli, ["budget", "--json"])
    data = json.loads(r.stdout)
    assert data["by_model"][0]["model"] == PRICED and data["spent_usd"] > 0
    assert PRICED in CliRunner().invoke(cli, ["budget"]).stdout
    assert CliRunner().invoke(cli, ["budget", "reset"], input="n\n").exit_code == 1
    assert json.loads(CliRunner().invoke(cli, ["budget", "--json"]).stdout)["spent_usd"] > 0
    assert CliRunner().invoke(cli, ["budget", "reset", "--yes"]).exit_code == 0
    assert json.loads(CliRunner().invoke(cli, ["budget", "--json"]).stdout)["by_model"] == []


def test_per_model_and_per_key_limits(tmp_path):
    tracker = BudgetTracker(
        tmp_path / "b.db", Limits(per_model_monthly={"gpt-4o": 1.0}, per_key_monthly={"k1": 0.5})
    )
    tracker.reserve(["gpt-4o-mini"], 5.0)  # no limit applies to this model
    tracker.reserve(["gpt-4o"], 0.9)
    with pytest.raises(BudgetExceededError, match="monthly gpt-4o"):
        tracker.reserve(["gpt-4o"], 0.2)
    tracker.reserve(["other"], 0.4, api_key="k1")
    with pytest.raises(BudgetExceededError, match="per-key"):
        tracker.reserve(["other"], 0.2, api_key="k1")
    assert "k1" not in Path(tmp_path / "b.db").read_bytes().decode(
        "latin-1"
    )  # keys are stored as labels


def test_corrupt_or_future_databases_are_clear_errors(tmp_path):
    bad = tmp_path / "budget.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a usable SQLite database"):
        BudgetTracker(bad).month_report()
    future = tmp_path / "future.db"
    sqlite3.connect(future).execute("PRAGMA user_version=99")
    with pytest.raises(ConfigError, match="newer preLLM"):
        UserMemory(future).sessions()
    r = CliRunner().invoke(cli, ["budget"], env={"PRELLM_DATA_DIR": str(tmp_path)})
    assert r.exit_code == 2 and "not a usable SQLite database" in r.stderr


def test_memory_feeds_the_small_model_and_sessions_round_trip(tmp_path):
    from prellm.providers.testing import recorded_requests

    engine = PreLLM("test/echo", "test/echo", "enrich", memory=UserMemory())
    engine.run("We deploy with Helm on GKE, mail ops@firma.pl", session="s1")
    engine.run("How do I roll back the Helm release?", session="s1")
    small_prompt = recorded_requests("test/echo")[-2]["messages"][-1]["content"]
    assert "Earlier in this session" in small_prompt and "Helm on GKE" in small_prompt

    runner = CliRunner()
    assert runner.invoke(cli, ["session", "prefer", "language=pl"]).exit_code == 0
    listed = json.loads(runner.invoke(cli, ["session", "list", "--json"]).stdout)
    assert listed[0]["session"] == "s1" and listed[0]["interactions"] == 2
    shown = runner.invoke(cli, ["session", "show", "s1"]).stdout
    assert "Helm on GKE" in shown and "ops@firma.pl" not in shown  # stored redacted

    export = tmp_path / "mem.json"
    assert runner.invoke(cli, ["session", "export", str(export)]).exit_code == 0
    assert runner.invoke(cli, ["session", "clear", "--yes"]).exit_code == 0
    assert json.loads(runner.invoke(cli, ["session", "list", "--json"]).stdout) == []
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"format": "prellm-memory", "version": 1, "interactions": [{"ts": "yesterday"}]})
    )
    r = runner.invoke(cli, ["session", "import", str(bad)])
    assert r.exit_code == 2 and "nothing was imported" in r.stderr
    assert json.loads(runner.invoke(cli, ["session", "list", "--json"]).stdout) == []
    assert runner.invoke(cli, ["session", "import", str(export)]).exit_code == 0
    assert (
        json.loads(runner.invoke(cli, ["session", "list", "--json"]).stdout)[0]["interactions"] == 2
    )
    assert UserMemory().preferences("default") == {"language": "pl"}


def test_preferences_reach_the_large_model_as_context():
    from prellm.providers.testing import recorded_requests, register_function

    UserMemory().set_preference("default", "language", "pl")
    large = register_function("pref_large", lambda m, p: "ok")
    PreLLM("test/echo", large, "structure", memory=UserMemory()).run("Deploy app", session="s2")
    assert "preferences: language=pl" in recorded_requests(large)[0]["messages"][-1]["content"]


def test_doctor_fails_for_an_unreachable_provider_and_passes_for_a_reachable_one(provider):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            "doctor",
            "--small",
            "test/echo",
            "--large",
            "openai/big",
            "--skip-load",
            "--timeout",
            "3",
        ],
        env={"OPENAI_API_BASE": f"http://127.0.0.1:{dead}/v1", "OPENAI_API_KEY": "sk-x"},
    )
    assert r.exit_code == 1
    assert "✗ large model openai/big reachable" in r.stdout and "fix:" in r.stdout
    r = runner.invoke(
        cli,
        ["doctor", "--small", "test/echo", "--large", "openai/big", "--skip-load", "--json"],
        env={"OPENAI_API_BASE": provider.url, "OPENAI_API_KEY": "sk-x"},
    )
    data = json.loads(r.stdout)
    assert (
        r.exit_code == 0
        and data["ok"]
        and any(
            c["check"] == "large model openai/big reachable" and c["ok"] for c in data["checks"]
        )
    )
    assert provider.requests[-1]["max_tokens"] == 1


def test_models_lists_embedded_model_and_priced_pairs():
    data = json.loads(CliRunner().invoke(cli, ["models", "--json"]).stdout)
    assert (
        data["embedded"][0]["name"] == "qwen2.5-coder-1.5b"
        and data["embedded"][0]["size"] == 1_117_320_768
    )
    hybrid = next(p for p in data["pairs"] if p["name"] == "hybrid")
    assert hybrid["small_price_per_mtok"] == {"input": 0.0, "output": 0.0}
    assert hybrid["large_price_per_mtok"]["input"] > 0


def test_verbose_logs_never_show_secrets(provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-000000000000000000")
    secret = "ghp_" + "A1b2" * 9
    r = CliRunner().invoke(
        cli,
        [
            f"deploy with token {secret}",
            "--small",
            "test/echo",
            "--large",
            "openai/big",
            "-s",
            "classify",
            "-vv",
        ],
    )
    assert r.exit_code == 0
    assert "request " in r.stderr  # the engine's info line was logged
    assert secret not in r.stderr and "sk-upstream-000000000000000000" not in r.stderr
