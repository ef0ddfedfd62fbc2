"""Project context (FolderCompressor) and runtime context."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from prellm import ConfigError, preprocess_and_execute_sync
from prellm.cli.main import cli
from prellm.context import FolderCompressor, collect_runtime, estimate_tokens, runtime_text
from prellm.providers.testing import recorded_requests, register_function


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "shop"
    (root / "src" / "billing").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "k8s").mkdir()
    (root / "generated").mkdir()
    (root / "src" / "billing" / "invoice.py").write_text(
        "class Invoice:\n    pass\n\ndef vat_total(items):\n    return 0\n"
    )
    (root / "src" / "billing" / "broken.py").write_text("def ok(:\n")
    (root / "web" / "app.js").write_text(
        "export function renderCart() {}\nclass Basket {}\nexport const API_URL = '/api'\n"
    )
    (root / "main.go").write_text("package main\nfunc main() {}\ntype Server struct{}\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nrequires-python = ">=3.11"\ndependencies = ["fastapi>=0.1", "stripe"]\n'
    )
    (root / "package.json").write_text(
        json.dumps(
            {
                "name": "shop-web",
                "scripts": {"build": "vite"},
                "dependencies": {"react": "18"},
                "author": "ops@shop.example.com",
            }
        )
    )
    (root / "Dockerfile").write_text("FROM python:3.12-slim\nEXPOSE 8000\n")
    (root / "k8s" / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop-api\n"
    )
    (root / ".env").write_text("STRIPE_KEY=sk_live_abcdefghijklmnop1234\n")
    (root / "id_rsa").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0binary")
    (root / "generated" / "big_module.py").write_text("def generated(): pass\n")
    (root / ".gitignore").write_text("generated/\n*.log\n")
    (root / "debug.log").write_text("noise\n")
    return root


def _check(summary_text: str) -> None:
    assert "src/billing/invoice.py: Invoice, vat_total" in summary_text
    assert "web/app.js: renderCart, Basket, API_URL" in summary_text
    assert "main.go: main, Server" in summary_text
    assert "python project shop (requires >=3.11); deps: fastapi, stripe" in summary_text
    assert "node package shop-web; scripts: build; deps: react" in summary_text
    assert "docker image from python:3.12-slim; exposes 8000" in summary_text
    assert "k8s Deployment: shop-api" in summary_text
    for absent in (".env", "id_rsa", "sk_live", "logo.png", "generated", "debug.log"):
        assert absent not in summary_text


def test_summary_of_a_plain_folder_honours_gitignore_and_skips_secrets_and_binaries(project):
    s = FolderCompressor(project).summarize()
    _check(s.text)
    assert s.languages["python"] == 2 and s.tokens == estimate_tokens(s.text)


def test_summary_of_a_git_checkout_uses_git_ls_files(project):
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    s = FolderCompressor(project).summarize()
    _check(s.text)


def test_a_tight_budget_keeps_what_the_query_is_about(project):
    s = FolderCompressor(project, token_budget=60).summarize("fix the billing invoice VAT")
    assert s.tokens <= 60
    assert "invoice.py" in s.text and "less relevant files not shown" in s.text
    assert s.dropped > 0


def test_bad_codebase_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        FolderCompressor(tmp_path / "missing")


def test_runtime_lists_env_names_never_values(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "value-that-must-not-show-42")
    info = collect_runtime()
    text = runtime_text(info)
    assert (
        "AWS_SECRET_ACCESS_KEY" in text
        and "value-that-must-not-show-42" not in text + json.dumps(info)
    )
    assert info["python"] in text


def test_project_context_reaches_the_large_model_redacted(project):
    (project / "notes-jan.kowalski@example.pl.md").write_text("# notes\n")
    large = register_function("ctx_large", lambda m, p: "ok")
    r = preprocess_and_execute_sync(
        "Fix the VAT total",
        small_llm="test/echo",
        large_llm=large,
        strategy="classify",
        codebase_path=str(project),
        collect_runtime=True,
    )
    system = recorded_requests(large)[0]["messages"][0]["content"]
    assert "src/billing/invoice.py: Invoice, vat_total" in system and "Runtime: OS" in system
    assert (
        "jan.kowalski@example.pl" not in system and "[EMAIL_1]" in system
    )  # the summary is redacted too
    assert r.redactions.get("email") == 1
    assert any(n.startswith("project context:") for n in r.notices)


def test_context_show_cli(project):
    r = CliRunner().invoke(
        cli, ["context", "show", "--codebase", str(project), "--no-runtime", "--budget", "500"]
    )
    assert r.exit_code == 0
    _check(r.stdout)
    assert "tokens (budget 500)" in r.stderr
    r = CliRunner().invoke(cli, ["context", "show", "--codebase", str(project), "--json"])
    data = json.loads(r.stdout)
    assert data["codebase"]["files_seen"] >= 9 and data["runtime"]["python"]
