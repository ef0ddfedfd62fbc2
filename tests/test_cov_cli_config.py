"""``prellm config``: show (text, env, errors), validate by file kind, get/set edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from prellm.cli.main import cli


def config(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["config", *args], env=env)


def test_show_prints_each_value_with_its_source(project):
    (project / "prellm.yaml").write_text("large: gpt-4o-mini\nstrategy: classify\n")
    r = config("show", env={"PRELLM_SMALL_MODEL": "ollama/qwen2.5:3b"})
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "# config file: prellm.yaml"
    assert 'small: "ollama/qwen2.5:3b"    # env PRELLM_SMALL_MODEL' in lines
    assert 'strategy: "classify"    # prellm.yaml' in lines
    assert any(x.startswith("rules (effective): [") for x in lines)
    assert "schemas (effective): []    # none" in lines


def test_show_without_a_file_says_none_found_and_json_names_no_file(project):
    r = config("show")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "# config file: none found"
    data = json.loads(config("show", "--json").stdout)
    assert data["file"] is None and data["values"]["small"] == {"value": None, "source": "default"}


def test_show_with_a_broken_file_or_domain_exits_2_naming_the_problem(project):
    (project / "prellm.yaml").write_text("strategy: magic\n")
    r = config("show")
    assert r.exit_code == 2
    assert r.stderr.startswith("prellm: error: ") and "prellm.yaml" in r.stderr
    r = config("show", "--config", str(project / "missing.yaml"))
    assert r.exit_code == 2 and "config file not found" in r.stderr
    (project / "prellm.yaml").unlink()
    r = config("show", "--domain", "astrology")
    assert r.exit_code == 2 and "unknown domain 'astrology'" in r.stderr


def test_validate_recognises_a_domain_file(project):
    domain = project / "mine.yaml"
    domain.write_text(
        "name: mine\ndescription: my domain\ncontext: We run Postgres on bare metal.\n"
        "rules:\n  - name: r1\n    keywords: [vacuum]\n    strategy: structure\n"
    )
    r = config("validate", str(domain))
    assert r.exit_code == 0 and r.stdout == f"{domain}: ok (domain)\n"


def test_validate_checks_prompt_templates_and_includes(project):
    good = project / "prompts.yaml"
    good.write_text(
        "prompts:\n  analyze.system:\n    text: 'Reply in JSON. {% include \"analyze.common\" %}'\n"
    )
    r = config("validate", str(good))
    assert r.exit_code == 0, r.stdout
    assert r.stdout == f"{good}: ok (prompts)\n"
    bad = project / "bad_prompts.yaml"
    bad.write_text("prompts:\n  mine:\n    text: '{% include \"no.such.prompt\" %}'\n")
    r = config("validate", str(bad))
    assert r.exit_code == 2
    assert r.stdout.startswith(f"{bad}: ") and "no.such.prompt" in r.stdout


def test_validate_reports_an_unreadable_file_and_checks_the_rest(project):
    (project / "prellm.yaml").write_text("strategy: structure\n")
    r = config("validate", "missing.yaml", "prellm.yaml")
    assert r.exit_code == 2
    assert r.stdout.splitlines() == [
        "missing.yaml:1: cannot read: No such file or directory",
        "prellm.yaml: ok (config)",
    ]


def test_validate_treats_a_top_level_list_as_a_config_file(project):
    odd = project / "list.yaml"
    odd.write_text("- small\n- large\n")
    r = config("validate", str(odd))
    assert r.exit_code == 2
    assert str(odd) in r.stdout


def test_get_and_set_need_a_config_file(project):
    r = config("get", "strategy")
    assert r.exit_code == 2
    assert "no prellm.yaml found; run `prellm config init` first" in r.stderr
    r = config("set", "strategy", "classify")
    assert r.exit_code == 2 and "no prellm.yaml found" in r.stderr
    assert not (project / "prellm.yaml").exists()


def test_get_an_unknown_or_too_deep_key_exits_2(project):
    (project / "prellm.yaml").write_text("small: ollama/qwen2.5:3b\nlarge:\n  model: gpt-4o-mini\n")
    r = config("get", "large.model")
    assert r.exit_code == 0 and r.stdout == "gpt-4o-mini\n"
    r = config("get", "nosuch")
    assert r.exit_code == 2 and "no key 'nosuch'" in r.stderr
    r = config("get", "large.model.name")  # large.model is a string, not a mapping
    assert r.exit_code == 2 and "no key 'large.model.name'" in r.stderr
    r = config("get", "small.model")  # small is given as a plain string
    assert r.exit_code == 2 and "no key 'small.model'" in r.stderr
    assert config("get", "small").stdout == "ollama/qwen2.5:3b\n"
    r = config("get", "large")
    assert json.loads(r.stdout)["model"] == "gpt-4o-mini"


def test_set_a_setting_of_a_model_given_as_a_string_keeps_the_model(project):
    cfg = project / "prellm.yaml"
    cfg.write_text("small: ollama/qwen2.5:3b\n")
    r = config("set", "small.timeout", "15")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == "small.timeout = 15\n"
    assert yaml.safe_load(cfg.read_text())["small"] == {"model": "ollama/qwen2.5:3b", "timeout": 15}
    assert config("get", "small.model").stdout == "ollama/qwen2.5:3b\n"
    assert config("get", "small.timeout").stdout == "15.0\n"


def test_set_creates_missing_sections_and_refuses_invalid_results(project):
    cfg = project / "prellm.yaml"
    cfg.write_text("strategy: structure\n")
    r = config("set", "budget.monthly", "20")
    assert r.exit_code == 0, r.stderr
    assert yaml.safe_load(cfg.read_text())["budget"]["monthly"] == 20
    before = cfg.read_text()
    r = config("set", "budget.monthly", "lots")
    assert r.exit_code == 2 and "not changed" in r.stderr
    assert cfg.read_text() == before


def test_set_with_an_explicit_missing_config_is_a_config_error(project):
    r = config("set", "strategy", "classify", "--config", str(project / "nope.yaml"))
    assert r.exit_code == 2
    assert (
        r.stderr.strip() == f"prellm: error: config file not found: {Path(project / 'nope.yaml')}"
    )
