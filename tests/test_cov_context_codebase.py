"""Project context: config files it summarises, what it skips, and running without git."""

from __future__ import annotations

import pytest

from prellm import ConfigError
from prellm.context import FolderCompressor, collect_runtime
from prellm.context.gather import gather_context


@pytest.fixture
def no_git(monkeypatch, tmp_path):
    """No ``git`` on PATH: the folder is walked instead of asking git for its files."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_config_files_are_summarised_by_kind(tmp_path, no_git):
    root = tmp_path / "svc"
    root.mkdir()
    (root / "go.mod").write_text("// comment\nmodule example.com/svc\n\ngo 1.22\n")
    (root / "requirements.txt").write_text("# pinned\nrequests==2.0\nhttpx\n")
    (root / "Makefile").write_text("build:\n\tgo build\ntest: build\n\tgo test\n")
    (root / "docker-compose.yml").write_text(
        "services:\n  api:\n    image: x\n  db:\n    image: postgres\n"
    )
    (root / "compose.yaml").write_text("version: '3'\n")
    (root / "pyproject.toml").write_text("[project\nname = ")
    (root / "package.json").write_text("{not json")
    text = FolderCompressor(root).summarize().text
    for line in (
        # the file's name once, then what it says
        "go.mod: // comment; module example.com/svc; go 1.22",
        "requirements.txt: requests==2.0; httpx",
        "Makefile: build; test",
        "docker-compose.yml: compose services: api, db",
        "compose.yaml: compose services: ?",
        "pyproject.toml: pyproject (unparsable)",
        "package.json: package.json (unparsable)",
    ):
        assert line in text.splitlines(), text


def test_anchored_and_nested_gitignore_patterns_are_honoured(tmp_path, no_git):
    root = tmp_path / "proj"
    (root / "out").mkdir(parents=True)
    (root / "src" / "out").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "out" / "gen.py").write_text("def built(): pass\n")
    (root / "src" / "out" / "keep.py").write_text("def kept(): pass\n")
    (root / "docs" / "draft.md").write_text("# draft\n")
    (root / "docs" / "guide.rst").write_text("guide\n")
    (root / ".gitignore").write_text("/out\ndocs/*.md\n")
    s = FolderCompressor(root).summarize()
    assert "src/out/keep.py: kept" in s.text  # "/out" is only the top-level one
    assert "docs/guide.rst" in s.text
    assert "gen.py" not in s.text and "draft.md" not in s.text


def test_huge_and_unreadable_files_are_skipped(tmp_path, no_git):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "small.py").write_text("def small(): pass\n")
    (root / "huge.py").write_text("def huge(): pass\n" + "#" * 600_000)
    (root / "dangling.py").symlink_to(root / "gone.py")
    s = FolderCompressor(root).summarize()
    assert "small.py: small" in s.text
    assert "huge" not in s.text and "dangling" not in s.text
    assert s.files_seen == 3 and s.files_listed == 1


def test_a_token_budget_under_50_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="at least 50"):
        FolderCompressor(tmp_path, token_budget=49)


def test_runtime_without_a_working_git_has_no_git_section(tmp_path):
    info = collect_runtime(tmp_path / "does-not-exist")
    assert "git" not in info
    assert info["cwd_name"] == "does-not-exist"


def test_gather_context_with_nothing_asked_is_empty():
    notices: list[str] = []
    assert gather_context("q", None, 500, False, notices) == ""
    assert notices == []


def test_gather_context_with_runtime_only(tmp_path):
    notices: list[str] = []
    text = gather_context("q", None, 500, True, notices)
    assert text.startswith("Runtime: OS ") and "Project:" not in text
    assert notices == []
