"""User pipelines at run time (fallbacks, computed strategies, recorded inputs) and the
checks that reject a pipeline file naming what does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from prellm import ConfigError, PreLLM, preprocess_and_execute_sync
from prellm.pipelines import expr
from prellm.providers.testing import register_function


def _project(tmp_path: Path, pipelines: str, extra: str = "") -> None:
    (tmp_path / "pipelines.yaml").write_text(pipelines)
    (tmp_path / "prellm.yaml").write_text("pipelines: pipelines.yaml\n" + extra)


def test_a_computed_strategy_that_is_not_one_composes_as_passthrough(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(
        tmp_path,
        """
pipelines:
  odd:
    steps:
      - {name: analyse, type: llm, prompt: analyze.classify, schema: classify, output: analysis}
      - {name: compose, type: compose, strategy: analysis.intent}
""",
    )
    r = preprocess_and_execute_sync(
        "Deploy app", small_llm="test/echo", large_llm="test/echo", pipeline="odd"
    )
    steps = {s.name: s for s in r.pipeline_steps}
    assert steps["compose"].error == (
        "compose strategy 'deploy' is not a strategy; used passthrough"
    )
    assert r.strategy == "passthrough" and steps["compose"].output == "passthrough"


def test_a_failed_decomposition_step_stops_the_pipeline_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(
        tmp_path,
        """
pipelines:
  fragile:
    steps:
      - {name: analyse, type: llm, prompt: analyze.classify, schema: classify, output: analysis, decomposition: true}
      - {name: compose, type: compose, strategy: classify}
""",
    )
    small = register_function("pipe_garbage", lambda m, p: "this is not JSON at all")
    large = register_function("pipe_large_fb", lambda m, p: "answer")
    r = preprocess_and_execute_sync(
        "Deploy app", small_llm=small, large_llm=large, pipeline="fragile"
    )
    assert [s.name for s in r.pipeline_steps] == ["analyse"]  # compose never ran
    (analyse,) = r.pipeline_steps
    assert analyse.error and analyse.error.startswith("small model output invalid")
    assert r.decomposition.fallback_reason == analyse.error
    assert r.content == "answer"


def test_a_failed_step_that_is_not_the_decomposition_does_not_stop_the_pipeline(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _project(
        tmp_path,
        """
pipelines:
  tolerant:
    steps:
      - {name: extra, type: llm, prompt: analyze.classify, schema: classify, output: extra}
      - {name: compose, type: compose, strategy: passthrough}
""",
    )
    small = register_function("pipe_garbage2", lambda m, p: "nope")
    r = preprocess_and_execute_sync(
        "Deploy app", small_llm=small, large_llm="test/echo", pipeline="tolerant"
    )
    assert [s.name for s in r.pipeline_steps] == ["extra", "compose"]
    assert r.pipeline_steps[0].error.startswith("small model output invalid")
    assert r.pipeline_steps[0].output is None
    assert r.strategy == "passthrough"


def test_long_inputs_are_recorded_cut_and_number_args_pass_as_they_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text("def main():\n    pass\n")
    _project(
        tmp_path,
        f"""
pipelines:
  long:
    steps:
      - {{name: analyse, type: llm, prompt: analyze.classify, schema: classify, output: analysis}}
      - {{name: project, type: function, function: compress_context, args: {{path: "'{tmp_path / "code"}'", budget: 500}}, output: project}}
      - {{name: compose, type: compose, strategy: classify}}
""",
    )
    query = "Deploy app " + "x" * 2500
    r = preprocess_and_execute_sync(
        query, small_llm="test/echo", large_llm="test/echo", pipeline="long"
    )
    steps = {s.name: s for s in r.pipeline_steps}
    recorded = steps["analyse"].input["query"]
    assert len(recorded) == 2001 and recorded.endswith("…") and query.startswith(recorded[:-1])
    assert steps["project"].input["budget"] == 500
    assert "app.py: main" in steps["project"].output


@pytest.mark.parametrize(
    ("pipelines", "extra", "expected"),
    [
        (
            "pipelines:\n  p:\n    steps:\n      - {name: s, type: llm, prompt: analyze.classify, schema: nope}\n",
            "",
            "pipelines.yaml:4: pipelines.p.steps.0.schema: unknown schema 'nope'",
        ),
        (
            "pipelines:\n  p:\n    steps:\n      - {name: s, type: pipeline, pipeline: ghost}\n",
            "",
            "pipelines.yaml:4: pipelines.p.steps.0.pipeline: unknown pipeline 'ghost'",
        ),
        (
            "pipelines:\n  p:\n    steps:\n      - {name: s, type: compose, strategy: classify}\n",
            "pipeline: ghost\n",
            "prellm.yaml: pipeline: unknown pipeline 'ghost'",
        ),
    ],
)
def test_pipelines_naming_what_does_not_exist_are_config_errors(
    tmp_path, monkeypatch, pipelines, extra, expected
):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, pipelines, extra)
    with pytest.raises(ConfigError) as info:
        PreLLM("test/echo", "test/echo")
    assert expected in str(info.value)


# --- the condition language ---------------------------------------------------------------


class _Obj:
    name = "api"
    _hidden = "no"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("items[0]", "a"),
        ("items[5]", None),  # out of range: nothing, not an error
        ("word[1]", "b"),
        ("data['k']", 1),
        ("obj.name", "api"),
        ("obj.missing", None),
        ("count > 'a'", False),  # types that do not compare: false, not an error
        ("count > 1 > 0", True),
        ("count[0]", None),
    ],
)
def test_conditions_index_lists_strings_dicts_and_objects(source, expected):
    variables = {
        "items": ["a", "b", "c"],
        "word": "abc",
        "data": {"k": 1},
        "obj": _Obj(),
        "count": 2,
    }
    assert expr.evaluate(expr.parse(source), variables) == expected


# --- the runner called directly (the checks above normally stop these first) ----------------


def test_an_llm_step_with_an_unknown_schema_is_a_config_error_at_run_time():
    from prellm.config.schema import Step
    from prellm.pipelines.runner import step_model

    step = Step.model_validate({"name": "s", "type": "llm", "prompt": "p", "schema": "nope"})
    with pytest.raises(ConfigError, match="step 's': unknown schema 'nope'"):
        step_model(step, [], {})


def test_running_an_unknown_pipeline_is_a_config_error_naming_the_known_ones():
    import asyncio

    from prellm.config.prompts import PromptRegistry
    from prellm.config.schema import PipelineSpec
    from prellm.pipelines.run import Run
    from prellm.pipelines.runner import run_pipeline

    compose = {"name": "c", "type": "compose", "strategy": "passthrough"}
    known = {"only": PipelineSpec.model_validate({"steps": [compose]})}
    with pytest.raises(ConfigError, match="unknown pipeline 'ghost'; known: only"):
        asyncio.run(
            run_pipeline(
                "ghost",
                known,
                Run({"query": "q"}, [], None),
                small="test/echo",
                prompts=PromptRegistry.default(),
                intents=[],
                schemas={},
                small_kwargs={},
                hide=str,
            )
        )
