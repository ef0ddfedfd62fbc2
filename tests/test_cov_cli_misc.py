"""Smaller CLI surfaces: ``context show`` with the runtime, the strategy option's help and
completion, ``serve``'s alias parsing before it refuses an open host, quiet blocking runs."""

from __future__ import annotations

import click
from click.testing import CliRunner

from prellm.cli.main import cli, query
from prellm.cli.params import STRATEGY, strategy_names


def test_context_show_prints_the_runtime_after_the_project_summary(tmp_path, monkeypatch):
    (tmp_path / "app.py").write_text("def main():\n    return 1\n")
    monkeypatch.setenv("SHELL", "/bin/zsh")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-show-me")
    r = CliRunner().invoke(cli, ["context", "show", "--codebase", str(tmp_path)])
    assert r.exit_code == 0, r.stderr
    summary, _, runtime = r.stdout.rpartition("\n\nRuntime: ")
    assert "app.py" in summary
    assert "shell zsh" in runtime and "AWS_SECRET_ACCESS_KEY" in runtime
    assert "do-not-show-me" not in r.stdout
    assert "1 of 1 files" in r.stderr


def test_query_help_lists_the_registered_strategies():
    r = CliRunner().invoke(cli, ["query", "--help"])
    assert r.exit_code == 0
    assert "[" + "|".join(strategy_names()) + "]" in r.stdout.replace("\n", "").replace(" ", "")


def test_strategy_completion_offers_the_names_with_the_typed_prefix():
    ctx = click.Context(query)
    param = next(p for p in query.params if p.name == "strategy")
    assert [c.value for c in STRATEGY.shell_complete(ctx, param, "s")] == ["structure", "split"]
    assert [c.value for c in STRATEGY.shell_complete(ctx, param, "")] == list(strategy_names())
    assert STRATEGY.shell_complete(ctx, param, "zz") == []


def test_serve_parses_valid_aliases_then_refuses_an_open_host_without_auth(monkeypatch):
    monkeypatch.delenv("PRELLM_API_KEYS", raising=False)
    monkeypatch.delenv("PRELLM_MASTER_KEY", raising=False)
    r = CliRunner().invoke(
        cli,
        [
            "serve",
            "--host",
            "0.0.0.0",
            "--alias",
            "fast=test/echo->test/echo",
            "--alias",
            "big=->x",
        ],
    )
    assert r.exit_code == 2
    assert "refusing to serve on 0.0.0.0 without auth" in r.stderr
    assert "NAME=SMALL->LARGE" not in r.stderr  # both aliases were well-formed


def test_quiet_blocking_run_prints_the_answer_and_nothing_else():
    r = CliRunner().invoke(
        cli,
        ["Deploy app", "--small", "test/echo", "--large", "test/echo", "-s", "classify", "-q"]
        + ["--no-stream"],
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Deploy app\n" and r.stderr == ""
