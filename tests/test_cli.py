"""The command line: streams to stdout, progress to stderr, meaningful exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from prellm.cli.main import cli
from prellm.providers.testing import recorded_requests, register_function

TEST_MODELS = ["--small", "test/echo", "--large", "test/echo"]


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_bare_query_streams_the_answer_to_stdout_and_progress_to_stderr():
    r = run("Deploy app to prod", *TEST_MODELS, "--strategy", "classify")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Deploy app to prod\n"
    assert "classify (intent deploy)" in r.stderr
    assert "tokens" in r.stderr


def test_query_subcommand_is_the_same_command():
    r = run("query", "Explain the error", *TEST_MODELS, "-s", "passthrough", "--no-stream")
    assert r.exit_code == 0
    assert r.stdout == "Explain the error\n"


def test_json_prints_exactly_one_result_object():
    r = run("Deploy app to prod", *TEST_MODELS, "-s", "structure", "--json", "-c", "k8s on GKE")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["strategy"] == "structure"
    assert data["decomposition"]["intent"] == "deploy"
    assert "Context: k8s on GKE" in data["decomposition"]["composed_prompt"]
    assert set(data["usage"]) == {"small", "large", "total"}


def test_query_from_stdin():
    r = run("-", *TEST_MODELS, "-s", "passthrough", "--no-stream", input="piped question\n")
    assert r.exit_code == 0
    assert r.stdout.strip() == "piped question"


def test_system_prompt_and_generation_options_reach_the_large_model():
    large = register_function("cli_large", lambda m, p: "fine")
    r = run(
        "hi",
        "--small",
        "test/echo",
        "--large",
        large,
        "-s",
        "passthrough",
        "--system",
        "Be brief.",
        "--temperature",
        "0.3",
        "--max-tokens",
        "12",
    )
    assert r.exit_code == 0
    call = recorded_requests(large)[0]
    assert call["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert call["params"]["temperature"] == 0.3 and call["params"]["max_tokens"] == 12


def test_provider_failure_exits_1_with_one_line_and_no_traceback():
    r = run("Deploy", "--small", "test/echo", "--large", "test/fail", "-s", "classify", "-q")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "prellm: error: test/fail: test model configured to fail"
    ]


def test_debug_shows_the_traceback():
    r = run(
        "Deploy", "--small", "test/echo", "--large", "test/fail", "-s", "passthrough", "--debug"
    )
    assert r.exit_code == 1
    assert "Traceback" in r.stderr


def test_usage_errors_exit_2():
    assert run("Deploy", "-s", "magic").exit_code == 2
    assert run("Deploy", *TEST_MODELS, "--max-tokens", "0").exit_code == 2
    r = run("   ", *TEST_MODELS)
    assert r.exit_code == 2 and "empty" in r.stderr


def test_unknown_model_is_a_configuration_error_exit_2():
    r = run("Deploy", "--small", "test/echo", "--large", "nosuchprovider-xyz", "-s", "passthrough")
    assert r.exit_code == 2
    assert "unknown model 'nosuchprovider-xyz'" in r.stderr


def test_degraded_preprocessing_is_visible_on_stderr():
    r = run(
        "Deploy", "--small", "test/invalid", "--large", "test/echo", "-s", "classify", "--no-stream"
    )
    assert r.exit_code == 0
    assert "preprocessing skipped" in r.stderr


def test_installed_entry_point_help_does_not_import_litellm():
    code = (
        "import sys, prellm; from prellm.cli.main import cli\n"
        "assert 'litellm' not in sys.modules and 'pydantic' not in sys.modules, 'heavy import at start-up'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run(
        [sys.executable, "-m", "prellm", "--help"], capture_output=True, text=True, check=True
    )
    assert "query" in out.stdout


def test_every_public_name_imports():
    import prellm

    for name in prellm.__all__:
        assert getattr(prellm, name) is not None
