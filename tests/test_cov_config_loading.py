"""Configuration loading: missing files, bad intents, empty files, errors that name the line."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from support import write

from prellm import ConfigError, PreLLM
from prellm.config.loader import default_intents, find_config, load_config
from prellm.config.schema import DomainRule


def test_prellm_config_naming_a_missing_file_is_a_config_error(project, monkeypatch):
    monkeypatch.setenv("PRELLM_CONFIG", str(project / "gone.yaml"))
    with pytest.raises(ConfigError, match="PRELLM_CONFIG names a missing file: .*gone.yaml"):
        find_config()


def test_duplicate_intent_names_are_a_config_error(project):
    write(
        project / "intents.yaml",
        "intents:\n  - {name: refund, description: a}\n  - {name: refund, description: b}\n",
    )
    write(project / "prellm.yaml", "intents: intents.yaml\n")
    with pytest.raises(ConfigError, match="intents.yaml: duplicate intent names"):
        load_config()


def test_default_intents_are_the_shipped_taxonomy():
    intents = default_intents()
    assert len(intents) >= 2
    assert all(set(i) >= {"name", "description"} for i in intents)
    assert len({i["name"] for i in intents}) == len(intents)


def test_a_missing_required_key_points_at_its_line(project):
    write(
        project / "pipelines.yaml",
        "pipelines:\n  p:\n    steps:\n      - {type: compose, strategy: classify}\n",
    )
    write(project / "prellm.yaml", "pipelines: pipelines.yaml\n")
    with pytest.raises(ConfigError) as info:
        PreLLM("test/echo", "test/echo")
    assert "pipelines.yaml:4: pipelines.p.steps.0.name: Field required" in str(info.value)


def test_an_empty_included_file_is_validated_as_an_empty_mapping(project):
    write(project / "pipelines.yaml", "")
    write(project / "prellm.yaml", "pipelines: pipelines.yaml\n")
    with pytest.raises(ConfigError) as info:
        PreLLM("test/echo", "test/echo")
    assert "pipelines.yaml:1: pipelines: Field required" in str(info.value)


def test_a_file_deleted_after_loading_is_noticed_on_the_next_load(project):
    write(
        project / "pipelines.yaml",
        "pipelines:\n  p:\n    steps:\n      - {name: c, type: compose, strategy: classify}\n",
    )
    write(project / "prellm.yaml", "pipelines: pipelines.yaml\n")
    assert "p" in load_config().pipelines
    (project / "pipelines.yaml").unlink()
    with pytest.raises(ConfigError, match="pipelines.yaml"):
        load_config()


def test_a_fact_pattern_that_is_not_a_regex_is_rejected():
    with pytest.raises(ValidationError, match="invalid regex"):
        DomainRule.model_validate(
            {"name": "r", "keywords": ["k"], "require": [{"name": "env", "pattern": "("}]}
        )
    rule = DomainRule.model_validate(
        {"name": "r", "keywords": ["k"], "require": [{"name": "env", "pattern": "prod|stag"}]}
    )
    assert rule.require[0].pattern == "prod|stag"
    rule = DomainRule.model_validate(
        {"name": "r", "keywords": ["k"], "require": [{"name": "env", "pattern": None}]}
    )
    assert rule.require[0].pattern is None
