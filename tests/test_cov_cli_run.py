"""``prellm "query"`` end to end: progress lines, notices, the trace tree, output formats,
interruption and the usage errors of stdin and --file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from prellm.cli.main import cli
from prellm.providers.resolve import embedded_installed
from prellm.providers.testing import register_function

TEST_MODELS = ["--small", "test/echo", "--large", "test/echo"]
SECRET = "ghp_" + "A1b2" * 9


def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None):
    # A wide terminal: rich wraps the trace tree at the width it is given.
    return CliRunner().invoke(cli, list(args), input=input, env={"COLUMNS": "400", **(env or {})})


def test_trace_tree_shows_failed_stages_the_fallback_and_redactions(tmp_path):
    r = run(f"Deploy app with token {SECRET}", "--small", "test/invalid", "--large", "test/echo")
    assert r.exit_code == 0 and "trace " not in r.stderr  # no tree unless asked
    r = run(
        f"Deploy app with token {SECRET}",
        "--small",
        "test/invalid",
        "--large",
        "test/echo",
        "--trace",
    )
    assert r.exit_code == 0, r.stderr
    err = r.stderr
    assert "· preprocessing skipped: small model output invalid" in err  # streamed progress
    traces = sorted((tmp_path / "traces").glob("*.md"))
    assert len(traces) == 1 and f"trace {traces[0]}" in err
    assert "small · test/invalid" in err and "failed: invalid" in err
    assert "strategy auto → passthrough" in err and "fallback: small model output invalid" in err
    assert "redacted: github_token ×1" in err
    assert "intent " not in err  # the analysis failed: no intent to show
    assert SECRET not in traces[0].read_text()


def test_trace_tree_names_the_strategy_reason_and_the_intent_without_streaming():
    r = run("Deploy app to prod", *TEST_MODELS, "--trace", "--no-stream")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Deploy app to prod\n"
    assert "strategy auto → passthrough (" in r.stderr
    assert "intent deploy · domain" in r.stderr and "fallback:" not in r.stderr
    assert "redacted:" not in r.stderr


def test_an_explicit_strategy_has_no_reason_in_the_trace_tree():
    r = run("Deploy app to prod", *TEST_MODELS, "-s", "classify", "--trace")
    assert r.exit_code == 0, r.stderr
    assert "strategy classify → classify\n" in r.stderr.replace("│", "").replace("└── ", "")


def test_split_streams_progress_for_its_sub_queries():
    r = run(
        "Deploy app to prod. Then restart the database. Then check logs.",
        *TEST_MODELS,
        "-s",
        "split",
    )
    assert r.exit_code == 0, r.stderr
    assert "· answering 2 sub-queries with test/echo…" in r.stderr
    assert "· answering with test/echo…" in r.stderr
    assert r.stdout.startswith("Original request:")


def test_a_notice_streamed_as_progress_is_not_repeated_after_the_answer(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("def main():\n    return 1\n")
    r = run("Explain main", *TEST_MODELS, "-s", "passthrough", "--codebase", str(project))
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("note: project context: 1 of 1 files") == 1
    quiet = run("Explain main", *TEST_MODELS, "-s", "passthrough", "-q", "--codebase", str(project))
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith("Explain main")


def test_condensing_attached_material_reports_each_step(tmp_path):
    log = tmp_path / "app.log"
    log.write_text(
        "".join(
            f"2024-01-01 12:00:{i % 60:02d} ERROR pod-{i % 7} connection refused to "
            f"db-{i % 3}:5432 after {i} ms\nWARN disk {i}% full on node-{i % 5}\n"
            for i in range(200)
        )
    )
    config = tmp_path / "prellm.yaml"
    config.write_text("condense:\n  map_tokens: 1\n")  # the small model reads the findings
    r = run(
        "Why do the pods restart?",
        *TEST_MODELS,
        "--config",
        str(config),
        "--file",
        str(log),
    )
    assert r.exit_code == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == f"· condensing {log.stat().st_size / 1024:.0f} KB of attached material…"
    assert lines[1] == "· the small model reads findings 1/1…"
    assert lines[2].startswith("· condensed 400 lines to ") and "1 small calls" in lines[2]


def test_leading_whitespace_of_a_streamed_answer_is_dropped():
    large = register_function("cli_ws", lambda m, p: " \n hello world")
    r = run("hi", "--small", "test/echo", "--large", large, "-s", "passthrough")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "hello world\n"


def test_schema_output_defaults_to_indented_json(tmp_path):
    (tmp_path / "schemas.yaml").write_text(
        "schemas:\n  ticket:\n    fields:\n      priority: {type: string, enum: [low, high]}\n"
        "      title: {type: string}\n"
    )
    config = tmp_path / "prellm.yaml"
    config.write_text("schemas: schemas.yaml\n")
    large = register_function("cli_schema", lambda m, p: '{"priority": "high", "title": "Żółw"}')
    r = run(
        "triage",
        "--small",
        "test/echo",
        "--large",
        large,
        "-s",
        "passthrough",
        "--config",
        str(config),
        "--schema",
        "ticket",
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout == '{\n  "priority": "high",\n  "title": "Żółw"\n}\n'


def test_ctrl_c_during_a_blocking_call_exits_130_with_one_line():
    def interrupted(messages, params):
        raise KeyboardInterrupt

    large = register_function("cli_ctrl_c", interrupted)
    r = run("hi", "--small", "test/echo", "--large", large, "-s", "passthrough", "--no-stream")
    assert r.exit_code == 130
    assert r.stdout == "" and r.stderr == "prellm: interrupted\n"


def test_no_arguments_with_a_piped_stdin_runs_it_as_the_query():
    r = run(
        input="piped without a dash\n",
        env={"PRELLM_SMALL_MODEL": "test/echo", "PRELLM_LARGE_MODEL": "test/echo"},
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "piped without a dash\n"


def test_file_from_stdin_is_attached_with_the_question_as_argument():
    large = register_function("cli_stdin_file", lambda m, p: "seen")
    r = run(
        "What failed?",
        "--small",
        "test/echo",
        "--large",
        large,
        "-s",
        "passthrough",
        "--file",
        "-",
        input="ERROR boom in worker-7\n",
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "seen\n"


def test_stdin_can_be_read_once_only():
    r = run("q", *TEST_MODELS, "--file", "-", "--file", "-", input="x")
    assert r.exit_code == 2 and "--file - can be given once" in r.stderr
    r = run("-", *TEST_MODELS, "--file", "-", input="x")
    assert r.exit_code == 2 and "with --file -, stdin is the file" in r.stderr


def test_a_missing_file_is_a_usage_error_naming_it(tmp_path):
    missing = tmp_path / "nope.log"
    r = run("why?", *TEST_MODELS, "--file", str(missing))
    assert r.exit_code == 2
    assert f"{missing}: No such file or directory" in r.stderr and "--file" in r.stderr
    r = run("why?", *TEST_MODELS, "--file", str(tmp_path))  # a directory is not a file
    assert r.exit_code == 2 and "Is a directory" in r.stderr


def test_reading_the_query_from_a_terminal_is_refused(tmp_path):
    """``prellm -`` on an interactive terminal would wait forever: it says what to do."""
    master, slave = os.openpty()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "prellm", "-", *TEST_MODELS],
            stdin=slave,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert out.returncode == 2
    assert "give a query" in out.stderr and out.stdout == ""


def test_json_output_is_one_object_with_notices_and_the_trace_on_stderr(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("def main():\n    return 1\n")
    r = run(
        "Deploy app",
        *TEST_MODELS,
        "-s",
        "classify",
        "--json",
        "--trace",
        "--codebase",
        str(project),
    )
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["strategy"] == "classify" and Path(data["trace_path"]).is_file()
    assert "note: project context: 1 of 1 files" in r.stderr
    assert f"trace {data['trace_path']}" in r.stderr


def test_a_streamed_answer_ends_with_exactly_one_newline():
    large = register_function("cli_nl", lambda m, p: "two lines\nend\n")
    streamed = run("hi", "--small", "test/echo", "--large", large, "-s", "passthrough")
    whole = run("hi", "--small", "test/echo", "--large", large, "-s", "passthrough", "--no-stream")
    assert streamed.exit_code == whole.exit_code == 0
    assert streamed.stdout == whole.stdout == "two lines\nend\n"


def test_ctrl_c_during_a_streamed_answer_exits_130_too():
    def interrupted(messages, params):
        raise KeyboardInterrupt

    large = register_function("cli_ctrl_c_stream", interrupted)
    r = run("hi", "--small", "test/echo", "--large", large, "-s", "passthrough")
    assert r.exit_code == 130
    assert r.stderr.endswith("prellm: interrupted\n")


@pytest.mark.skipif(not embedded_installed(), reason="needs the local extra")
def test_an_unwritable_model_cache_is_a_config_error_not_an_internal_one(tmp_path):
    in_the_way = tmp_path / "cache"
    in_the_way.write_text("a file where the cache directory should be")
    # Its own process: this one may hold the model loaded already.
    env = {**os.environ, "PRELLM_CACHE_DIR": str(in_the_way), "PRELLM_NO_HOST": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "prellm", "hi", "-s", "classify"]
        + ["--small", "local/qwen2.5-coder-1.5b", "--large", "test/echo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr
    assert "cannot assemble the embedded model" in r.stderr and "internal error" not in r.stderr
