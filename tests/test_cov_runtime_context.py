"""Runtime context (opt-in): the machine, the tools and the git state; environment variable
names that matter, never their values."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from prellm.context.runtime import collect_runtime, runtime_text


def test_runtime_lists_relevant_variable_names_but_never_values(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-show-me")
    monkeypatch.setenv("KUBECONFIG", "/secret/path")
    monkeypatch.setenv("MY_PRIVATE_THING", "irrelevant")
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    info = collect_runtime(tmp_path)
    assert {"AWS_SECRET_ACCESS_KEY", "KUBECONFIG"} <= set(info["env_names"])
    assert "MY_PRIVATE_THING" not in info["env_names"]
    assert info["env_names"] == sorted(info["env_names"])
    assert info["shell"] == "zsh" and info["cwd_name"] == tmp_path.name
    text = runtime_text(info)
    assert "do-not-show-me" not in text and "/secret/path" not in text
    assert "AWS_SECRET_ACCESS_KEY" in text and "shell zsh" in text


def test_outside_a_git_checkout_there_is_no_git_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    info = collect_runtime(tmp_path)
    assert "git" not in info and "git branch" not in runtime_text(info)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_in_a_git_checkout_the_branch_and_changes_are_counted(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "feature")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    (tmp_path / "tracked.txt").write_text("one\n")
    git("add", "tracked.txt")
    git("commit", "-q", "-m", "first")
    (tmp_path / "tracked.txt").write_text("two\n")
    (tmp_path / "new1.txt").write_text("x")
    (tmp_path / "new2.txt").write_text("y")
    info = collect_runtime(tmp_path)
    assert info["git"] == {"branch": "feature", "modified": 1, "untracked": 2}
    assert "git branch feature (1 modified, 2 untracked)" in runtime_text(info)


def test_without_git_on_the_path_there_is_no_git_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    info = collect_runtime(tmp_path)
    assert "git" not in info and info["tools"] == []
    assert "tools:" not in runtime_text(info)


def test_the_text_leaves_out_what_is_unknown():
    info = {"os": "Linux 6.1 (x86_64)", "python": "3.11.7", "shell": None, "locale": None}
    assert runtime_text(info) == "Runtime: OS Linux 6.1 (x86_64); Python 3.11.7"
    full = {
        **info,
        "shell": "bash",
        "locale": "pl_PL",
        "tools": ["git", "docker"],
        "env_names": ["CI"],
    }
    assert runtime_text(full) == (
        "Runtime: OS Linux 6.1 (x86_64); Python 3.11.7; shell bash; locale pl_PL; "
        "tools: git, docker; env vars set: CI"
    )
