"""YAML configuration: every file honoured, every mistake a clear error naming file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import write

from prellm import ConfigError, PreLLM, ValidationError, preprocess_and_execute_sync
from prellm.cli.main import cli
from prellm.config.loader import find_config, load_config
from prellm.config.prompts import PromptRegistry, PromptSpec
from prellm.config.schema import SCHEMA_MODELS, json_schema
from prellm.providers.testing import recorded_requests, register_function


def test_discovery_order(project, monkeypatch):
    assert find_config() is None
    user = write(project / "xdg" / "prellm" / "prellm.yaml", "strategy: classify\n")
    assert find_config() == user
    local = write(project / "prellm.yaml", "strategy: structure\n")
    assert find_config() == Path("prellm.yaml")
    env = write(project / "env.yaml", "strategy: enrich\n")
    monkeypatch.setenv("PRELLM_CONFIG", str(env))
    assert find_config() == env
    explicit = write(project / "x.yaml", "strategy: split\n")
    assert find_config(explicit) == explicit
    assert PreLLM("test/echo", "test/echo").strategy == "enrich"
    assert local.exists() and user.exists()
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(project / "missing.yaml")


def test_model_settings_in_the_config_reach_the_calls(project):
    large = register_function("cfg_large", lambda m, p: "ok")
    write(
        project / "prellm.yaml",
        f"""
small: {{model: test/echo, temperature: 0.1, max_tokens: 99}}
large: {{model: {large}, timeout: 42, temperature: 0.3, max_tokens: 77}}
strategy: classify
""",
    )
    r = preprocess_and_execute_sync("Deploy app")
    assert r.model_used == large and r.strategy == "classify"
    small_params = recorded_requests("test/echo")[0]["params"]
    assert small_params["temperature"] == 0.1 and small_params["max_tokens"] == 99
    large_params = recorded_requests(large)[0]["params"]
    assert large_params["temperature"] == 0.3 and large_params["max_tokens"] == 77


def test_fallbacks_are_used_when_the_large_model_fails(project):
    write(
        project / "prellm.yaml",
        "large: {model: test/fail, fallbacks: [test/echo]}\nsmall: test/echo\nstrategy: passthrough\n",
    )
    r = preprocess_and_execute_sync("hello fallback")
    assert r.content == "hello fallback"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("strategy: classify\ncolour: blue\n", "prellm.yaml:2: colour: unknown key"),
        (
            "large:\n  model: x\n  timeout: soon\n",
            "prellm.yaml:3: large.timeout: Input should be a valid number",
        ),
        ("strategy: magic\n", "prellm.yaml:1: strategy: Input should be"),
        ("small: [1\n", "prellm.yaml:2: invalid YAML"),
        ("domain: cooking\n", "unknown domain 'cooking'"),
        ("rules: missing.yaml\n", "missing.yaml: cannot read"),
    ],
)
def test_bad_config_files_are_config_errors_naming_file_and_line(project, text, expected):
    write(project / "prellm.yaml", text)
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        PreLLM("test/echo", "test/echo")
    r = CliRunner().invoke(cli, ["hi", "--small", "test/echo", "--large", "test/echo"])
    assert r.exit_code == 2 and expected.split(":")[0] in r.stderr and "Traceback" not in r.stderr


def test_a_prompt_override_changes_what_the_small_model_receives(project):
    write(
        project / "prompts.yaml",
        """
prompts:
  analyze.classify:
    max_tokens: 55
    temperature: 0
    text: |
      CUSTOM CLASSIFIER for {{ query }}
      {% include "analyze.common" %}
""",
    )
    write(project / "prellm.yaml", "prompts: prompts.yaml\n")
    preprocess_and_execute_sync(
        "Deploy app", small_llm="test/echo", large_llm="test/echo", strategy="classify"
    )
    sent = recorded_requests("test/echo")[0]
    assert sent["messages"][-1]["content"].startswith("CUSTOM CLASSIFIER for Deploy app")
    assert sent["params"]["max_tokens"] == 55


def test_template_errors_are_config_errors():
    reg = PromptRegistry(
        {**PromptRegistry.default().prompts, "x": PromptSpec(text="Hello {{ name }}")}
    )
    with pytest.raises(ConfigError, match="prompt 'x': UndefinedError: 'name' is undefined"):
        reg.render("x")
    cyc = PromptRegistry(
        {
            **PromptRegistry.default().prompts,
            "a": PromptSpec(text='{% include "b" %}'),
            "b": PromptSpec(text='{% include "a" %}'),
        }
    )
    with pytest.raises(ConfigError, match="include cycle"):
        cyc.check()
    bad = PromptRegistry({**PromptRegistry.default().prompts, "a": PromptSpec(text="{% if %}")})
    with pytest.raises(ConfigError, match="prompt 'a': template line 1"):
        bad.check()
    missing = PromptRegistry(
        {k: v for k, v in PromptRegistry.default().prompts.items() if k != "compose.enrich"}
    )
    with pytest.raises(ConfigError, match="'compose.enrich' is missing"):
        missing.check()
    with pytest.raises(ConfigError, match="unknown prompt 'nope'"):
        PromptRegistry.default().render("nope")


RULES = """
rules:
  - name: payments
    keywords: [płatność, payment]
    strategy: structure
    policy: assume
    require:
      - name: currency
        keywords: [pln, eur, usd]
  - name: legal
    keywords: [umowa, contract]
    policy: ask
    require:
      - name: jurisdiction
        keywords: [poland, polska]
"""


def test_rule_keywords_match_polish_without_accents_and_pick_the_strategy(project):
    write(project / "rules.yaml", RULES)
    write(project / "prellm.yaml", "rules: rules.yaml\n")
    large = register_function("rule_large", lambda m, p: "ok")
    r = preprocess_and_execute_sync(
        "PLATNOSC kartą nie przeszła", small_llm="test/echo", large_llm=large
    )
    assert r.strategy == "structure" and r.decomposition.matched_rule == "payments"
    assert r.decomposition.missing[0] == "currency"
    assert (
        "- currency" in recorded_requests(large)[0]["messages"][-1]["content"]
    )  # assume: stated as not given
    r = preprocess_and_execute_sync(
        "payment of 10 EUR failed", small_llm="test/echo", large_llm=large
    )
    assert r.decomposition.matched_rule == "payments" and "currency" not in r.decomposition.missing


def test_an_ask_rule_returns_a_clarification_without_calling_the_large_model(project):
    write(project / "rules.yaml", RULES)
    write(project / "prellm.yaml", "rules: rules.yaml\n")
    large = register_function("never", lambda m, p: "should not be called")
    r = preprocess_and_execute_sync(
        "Napisz umowę najmu", small_llm="test/echo", large_llm=large, strategy="classify"
    )
    assert r.needs_clarification and recorded_requests(large) == []
    assert r.content.startswith("Zanim odpowiem, potrzebuję jeszcze: jurisdiction")
    r = preprocess_and_execute_sync(
        "Write a contract under Polska law",
        small_llm="test/echo",
        large_llm=large,
        strategy="classify",
    )
    assert not r.needs_clarification and r.content == "should not be called"


SCHEMAS = """
schemas:
  ticket:
    description: A support ticket triage
    fields:
      priority: {type: string, enum: [low, medium, high]}
      hours: {type: number, minimum: 0, maximum: 100}
      tags: {type: array, items: {type: string}}
      owner: {type: string, required: false}
"""


def test_a_response_schema_makes_result_parsed_typed_with_one_reask(project):
    write(project / "schemas.yaml", SCHEMAS)
    write(project / "prellm.yaml", "schemas: schemas.yaml\n")
    replies = iter(
        [
            '{"priority": "urgent", "hours": 3, "tags": []}',
            '{"priority": "high", "hours": 3, "tags": ["db"]}',
        ]
    )
    large = register_function("schema_large", lambda m, p: next(replies))
    r = preprocess_and_execute_sync(
        "DB is down",
        small_llm="test/echo",
        large_llm=large,
        strategy="passthrough",
        response_schema="ticket",
    )
    assert r.parsed == {"priority": "high", "hours": 3.0, "tags": ["db"], "owner": None}
    calls = recorded_requests(large)
    rf = calls[0]["params"]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["properties"]["priority"][
        "enum"
    ] == ["low", "medium", "high"]
    assert (
        "priority" in calls[1]["messages"][-1]["content"]
        and "did not match the schema" in calls[1]["messages"][-1]["content"]
    )
    assert [s.stage for s in r.stages] == ["large", "large_repair"] and r.stages[0].ok is False


def test_a_response_schema_that_is_never_met_is_a_validation_error(project):
    write(project / "schemas.yaml", SCHEMAS)
    write(project / "prellm.yaml", "schemas: schemas.yaml\n")
    large = register_function("bad_json", lambda m, p: "not json at all")
    with pytest.raises(ValidationError, match="does not match schema 'ticket' after one re-ask"):
        preprocess_and_execute_sync(
            "x",
            small_llm="test/echo",
            large_llm=large,
            strategy="passthrough",
            response_schema="ticket",
        )
    with pytest.raises(ConfigError, match="unknown response schema 'nope'"):
        preprocess_and_execute_sync(
            "x",
            small_llm="test/echo",
            large_llm=large,
            strategy="passthrough",
            response_schema="nope",
        )


def test_schema_output_as_yaml_in_the_cli(project):
    write(project / "schemas.yaml", SCHEMAS)
    write(project / "prellm.yaml", "schemas: schemas.yaml\n")
    large = register_function(
        "yaml_large", lambda m, p: '{"priority": "low", "hours": 1, "tags": ["a"]}'
    )
    r = CliRunner().invoke(
        cli,
        [
            "triage",
            "--small",
            "test/echo",
            "--large",
            large,
            "-s",
            "passthrough",
            "--schema",
            "ticket",
            "--format",
            "yaml",
        ],
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("priority: low\nhours: 1.0\ntags:\n- a\n")


def test_domain_defaults_add_context_and_rules(project):
    large = register_function("dom_large", lambda m, p: "ok")
    r = preprocess_and_execute_sync(
        "Ile VAT doliczyć do faktury?", small_llm="test/echo", large_llm=large, domain="business"
    )
    assert r.decomposition.matched_rule == "invoice-vat" and r.strategy == "structure"
    sent = recorded_requests(large)[0]["messages"][-1]["content"]
    assert "23%" in sent and "PLN" in sent
    r = CliRunner().invoke(
        cli, ["x", "--small", "test/echo", "--large", "test/echo", "--domain", "cooking"]
    )
    assert r.exit_code == 2 and "unknown domain" in r.stderr


def test_an_intents_file_replaces_the_taxonomy(project):
    write(
        project / "intents.yaml",
        "intents:\n  - {name: refund, description: money back}\n  - {name: card_lost, description: lost card}\n",
    )
    write(project / "prellm.yaml", "intents: intents.yaml\n")
    r = preprocess_and_execute_sync(
        "I want a refund", small_llm="test/echo", large_llm="test/echo", strategy="classify"
    )
    schema = recorded_requests("test/echo")[0]["params"]["response_format"]["json_schema"]["schema"]
    assert (
        schema["properties"]["intent"]["enum"] == ["refund", "card_lost"]
        and r.decomposition.intent == "refund"
    )


def test_an_intents_shortlist_offers_the_small_model_the_closest_labels(project):
    labels = {
        "refund": "I want my money back for this order",
        "card_lost": "my card was stolen on the bus",
        "exchange_rate": "what rate do you use for euros",
        "top_up": "how do I add money to my account",
        "pin_blocked": "my PIN is blocked after three tries",
        "greeting": "hello, good morning",
    }
    write(
        project / "intents.yaml",
        "shortlist: 2\nintents:\n"
        + "".join(f"  - {{name: {n}, examples: ['{e}']}}\n" for n, e in labels.items()),
    )
    write(project / "prellm.yaml", "intents: intents.yaml\nstrategy: classify\n")
    preprocess_and_execute_sync(
        "Someone stole my card", small_llm="test/echo", large_llm="test/echo"
    )
    sent = recorded_requests("test/echo")[0]
    enum = sent["params"]["response_format"]["json_schema"]["schema"]["properties"]["intent"][
        "enum"
    ]
    assert enum[0] == "card_lost" and len(enum) == 2
    assert (
        '- card_lost: card lost (e.g. "my card was stolen on the bus")'
        in (sent["messages"][-1]["content"])
    )
    # Intents passed to the engine directly are offered whole.
    PreLLM("test/echo", "test/echo", intents=[{"name": n, "description": n} for n in labels]).run(
        "Someone stole my card"
    )
    enum = recorded_requests("test/echo")[2]["params"]["response_format"]["json_schema"]
    assert len(enum["schema"]["properties"]["intent"]["enum"]) == 6


def test_sensitive_rules_in_the_config_are_honoured(project):
    write(
        project / "mine.yaml",
        "rules:\n  - name: ticket_id\n    label: TICKET\n    pattern: 'TCK-\\d{4}'\n",
    )
    write(project / "prellm.yaml", "sensitive_rules: mine.yaml\n")
    large = register_function("sens_large", lambda m, p: "ok")
    r = preprocess_and_execute_sync(
        "close TCK-1234", small_llm="test/echo", large_llm=large, strategy="passthrough"
    )
    assert "TCK-1234" not in str(recorded_requests(large)) and r.redactions == {"ticket_id": 1}


def test_config_cli_init_validate_show_get_set(project):
    runner = CliRunner()
    assert runner.invoke(cli, ["config", "init"]).exit_code == 0
    text = Path("prellm.yaml").read_text()
    assert (
        text.startswith("# yaml-language-server: $schema=")
        and "config.schema.json" in text.splitlines()[0]
    )
    assert Path(text.splitlines()[0].split("$schema=")[1]).is_file()
    assert runner.invoke(cli, ["config", "validate", "prellm.yaml"]).exit_code == 0
    assert runner.invoke(cli, ["config", "init"]).exit_code == 2  # exists
    assert runner.invoke(cli, ["config", "get", "large.model"]).stdout.strip() == "gpt-4o-mini"
    assert runner.invoke(cli, ["config", "set", "large.timeout", "30"]).exit_code == 0
    assert runner.invoke(cli, ["config", "get", "large.timeout"]).stdout.strip() == "30.0"
    r = runner.invoke(cli, ["config", "set", "strategy", "magic"])
    assert r.exit_code == 2 and "not changed" in r.stderr
    shown = json.loads(runner.invoke(cli, ["config", "show", "--json"]).stdout)
    assert (
        shown["values"]["large"]["source"].endswith("prellm.yaml")
        and shown["values"]["domain"]["source"] == "default"
    )
    write(project / "bad_rules.yaml", "rules:\n  - name: r\n    keywords: []\n")
    r = runner.invoke(cli, ["config", "validate", "prellm.yaml", "bad_rules.yaml"])
    assert r.exit_code == 2 and "bad_rules.yaml:3: rules.0.keywords" in r.stdout


def test_shipped_json_schemas_match_the_models():
    from importlib import resources

    for name in SCHEMA_MODELS:
        shipped = json.loads(
            resources.files("prellm.data").joinpath("schemas", f"{name}.schema.json").read_text()
        )
        assert shipped == json_schema(name), (
            f"regenerate with: python -m prellm.config.schema ({name})"
        )
    r = CliRunner().invoke(cli, ["config", "schema", "rules"])
    assert json.loads(r.stdout)["title"] == "preLLM rules file"


def test_builtin_domains_validate_against_their_schema():
    from prellm.config.loader import DOMAINS

    for d in DOMAINS:
        cfg = load_config(domain=d, discover=False)
        assert cfg.domain_context and cfg.rules


@pytest.mark.slow
def test_the_wheel_works_from_another_directory(tmp_path):
    root = Path(__file__).resolve().parent.parent
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "-q", "-w", str(dist)],
        check=True,
    )
    wheel = next(dist.glob("prellm*.whl"))
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HOME": str(tmp_path)}
    location = subprocess.run(
        [sys.executable, "-c", "import prellm; print(prellm.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert location.startswith(str(site))  # the installed wheel, not the source tree
    run = [sys.executable, "-m", "prellm"]
    r = subprocess.run(
        [
            *run,
            "Ile VAT do faktury 100 PLN?",
            "--small",
            "test/echo",
            "--large",
            "test/echo",
            "--domain",
            "business",
            "--json",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["decomposition"]["matched_rule"] == "invoice-vat"
    r = subprocess.run(
        [*run, "config", "schema", "domain"], cwd=elsewhere, capture_output=True, text=True, env=env
    )
    assert r.returncode == 0 and "preLLM domain file" in r.stdout


def test_budget_in_the_config_is_enforced(project, provider):
    from prellm import BudgetExceededError

    write(
        project / "prellm.yaml",
        "budget: {monthly: 0.0000001}\nsmall: test/echo\nstrategy: passthrough\n",
    )
    with pytest.raises(BudgetExceededError):
        preprocess_and_execute_sync(
            "hi", large_llm="openai/gpt-4o-mini", api_base=provider.url, api_key="sk-x"
        )
    assert provider.requests == []
