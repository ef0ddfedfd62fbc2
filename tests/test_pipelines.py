"""Pipelines: built-in and user-defined, safe conditions, every step recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import write

from prellm import ConfigError, PreLLM, preprocess_and_execute_sync
from prellm.cli.main import cli
from prellm.pipelines import expr
from prellm.providers.testing import recorded_requests, register_function


def small_fn(messages, params):
    """A small model that answers each analysis schema with fixed, recognisable content."""
    props = params["response_format"]["json_schema"]["schema"]["properties"]
    if "strategy" in props:
        return json.dumps(
            {
                "strategy": "enrich",
                "reason": "vague",
                "intent": "deploy",
                "confidence": 0.7,
                "domain": "devops",
                "language": "en",
                "missing": ["cluster", "registry"],
                "action": "deploy",
                "target": "app",
                "sub_queries": [],
                "assumptions": [],
            }
        )
    return json.dumps(
        {
            "intent": "deploy",
            "domain": "devops",
            "language": "en",
            "context": ["uses Helm 3"],
            "assumptions": ["a staging environment exists"],
            "missing": ["rollback plan"],
        }
    )


def test_dual_agent_full_runs_all_its_steps_and_records_them(tmp_path):
    small = register_function("pipe_small", small_fn)
    large = register_function("pipe_large", lambda m, p: "ok")
    (tmp_path / "app.py").write_text("def deploy():\n    pass\n")
    r = preprocess_and_execute_sync(
        "Deploy app",
        small_llm=small,
        large_llm=large,
        pipeline="dual_agent_full",
        codebase_path=str(tmp_path),
        trace=True,
    )
    steps = {s.name: s for s in r.pipeline_steps}
    assert list(steps) == ["rules", "analyse", "enrich", "merge", "project", "compose"]
    assert not any(
        s.skipped for s in r.pipeline_steps
    )  # two facts missing -> enrich runs; a codebase -> project runs
    assert steps["analyse"].prompt_tokens > 0 and steps["analyse"].output["strategy"] == "enrich"
    assert steps["merge"].output["missing"] == ["cluster", "registry", "rollback plan"]
    assert "app.py: deploy" in steps["project"].output
    assert r.strategy == "enrich" and r.requested_strategy == "pipeline:dual_agent_full"
    sent = recorded_requests(large)[0]["messages"][-1]["content"]
    assert (
        "- uses Helm 3" in sent
        and "a staging environment exists" in sent
        and "app.py: deploy" in sent
    )
    assert sent.count("Project:") == 1  # the pipeline's project step, not a second copy
    assert [s.stage for s in r.stages] == ["small:analyse", "small:enrich", "large"]
    assert "pipeline" in Path(r.trace_path).read_text()


def test_a_condition_skips_a_step():
    def small_fn2(messages, params):
        data = json.loads(small_fn(messages, params))
        if "strategy" in data:
            data.update(strategy="classify", missing=[])
        return json.dumps(data)

    small = register_function("pipe_small2", small_fn2)
    r = preprocess_and_execute_sync(
        "Explain DNS", small_llm=small, large_llm="test/echo", pipeline="dual_agent_full"
    )
    skipped = [s.name for s in r.pipeline_steps if s.skipped]
    assert skipped == ["enrich", "project"] and r.strategy == "classify"


@pytest.mark.parametrize("name", ["classify", "structure", "split", "enrich", "passthrough"])
def test_builtin_strategy_pipelines_compose_like_their_strategy(name):
    large = register_function("pipe_eq", lambda m, p: "ok")
    by_pipeline = preprocess_and_execute_sync(
        "Deploy app and explain A and B", small_llm="test/echo", large_llm=large, pipeline=name
    )
    by_strategy = preprocess_and_execute_sync(
        "Deploy app and explain A and B", small_llm="test/echo", large_llm=large, strategy=name
    )
    assert by_pipeline.strategy == name
    assert by_pipeline.decomposition.composed_prompt == by_strategy.decomposition.composed_prompt


def test_the_condition_language_is_safe():
    variables = {"analysis": {"missing": ["a", "b"], "strategy": "enrich"}, "rule": None}
    assert expr.evaluate(
        expr.parse("len(analysis.missing) >= 2 and analysis.strategy in ['enrich', 'split']"),
        variables,
    )
    assert (
        expr.evaluate(expr.parse("(rule and rule.strategy) or analysis.strategy"), variables)
        == "enrich"
    )
    assert expr.evaluate(expr.parse("not rule"), variables) is True
    for bad in (
        "__import__('os')",
        "open('x')",
        "analysis.__class__",
        "[x for x in analysis]",
        "lambda: 1",
        "a if b else c",
        "a = 1",
    ):
        with pytest.raises(ConfigError):
            expr.parse(bad)


@pytest.mark.parametrize(
    ("pipelines", "expected"),
    [
        (
            "pipelines:\n  p:\n    steps:\n      - {name: s, type: magic}\n",
            "pipelines.yaml:4: pipelines.p.steps.0.type: Input should be",
        ),
        (
            "pipelines:\n  p:\n    steps:\n      - {name: s, type: llm, prompt: nope, schema: classify}\n",
            "pipelines.yaml:4: pipelines.p.steps.0.prompt: unknown prompt 'nope'",
        ),
        (
            "pipelines:\n  p:\n    steps:\n      - {name: s, type: function, function: rm_rf}\n",
            "unknown function 'rm_rf'",
        ),
        (
            "pipelines:\n  p:\n    steps:\n      - {name: s, type: compose, strategy: classify, when: \"open('x')\"}\n",
            "Call is not allowed",
        ),
        (
            "pipelines:\n  a:\n    steps:\n      - {name: s, type: pipeline, pipeline: b}\n  b:\n    steps:\n      - {name: s, type: pipeline, pipeline: a}\n",
            "pipeline cycle: a -> b -> a",
        ),
        (
            "pipelines:\n  p:\n    steps:\n      - {name: s, type: llm, schema: classify}\n",
            "a llm step needs 'prompt'",
        ),
    ],
)
def test_bad_pipelines_are_config_errors_with_file_and_line(
    tmp_path, monkeypatch, pipelines, expected
):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pipelines.yaml", pipelines)
    write(tmp_path / "prellm.yaml", "pipelines: pipelines.yaml\n")
    with pytest.raises(
        ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")
    ):
        PreLLM("test/echo", "test/echo")
    r = CliRunner().invoke(cli, ["config", "validate", "pipelines.yaml"])
    assert r.exit_code == 2


def test_a_user_pipeline_with_a_schema_from_schemas_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path / "schemas.yaml",
        "schemas:\n  risk:\n    fields:\n      risk: {type: string, enum: [low, high]}\n",
    )
    write(
        tmp_path / "pipelines.yaml",
        """
pipelines:
  risky:
    description: classify, then rate the risk
    steps:
      - {name: inner, type: pipeline, pipeline: classify}
      - {name: risk, type: llm, prompt: rate, schema: risk, input: {intent: analysis.intent}, output: risk}
      - {name: compose, type: compose, strategy: classify}
""",
    )
    write(
        tmp_path / "prompts.yaml",
        "prompts:\n  rate:\n    text: 'Rate the risk of a {{ intent }} request: {{ query }}'\n",
    )
    write(
        tmp_path / "prellm.yaml",
        "pipelines: pipelines.yaml\nschemas: schemas.yaml\nprompts: prompts.yaml\npipeline: risky\n",
    )
    r = preprocess_and_execute_sync("Deploy app", small_llm="test/echo", large_llm="test/echo")
    steps = {s.name: s for s in r.pipeline_steps}
    assert r.pipeline == "risky" and steps["risk"].output == {"risk": "low"}
    assert steps["risk"].input == {"intent": "deploy"}
    prompts_sent = [c["messages"][-1]["content"] for c in recorded_requests("test/echo")]
    assert any(p.startswith("Rate the risk of a deploy request: Deploy app") for p in prompts_sent)
    r = CliRunner().invoke(
        cli,
        [
            "Deploy app",
            "--small",
            "test/echo",
            "--large",
            "test/echo",
            "--pipeline",
            "dual_agent_full",
            "--json",
        ],
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["pipeline"] == "dual_agent_full"
    r = CliRunner().invoke(
        cli, ["Deploy app", "--small", "test/echo", "--large", "test/echo", "--pipeline", "nope"]
    )
    assert r.exit_code == 2 and "unknown pipeline 'nope'" in r.stderr
