"""``prellm doctor`` against real broken conditions, and ``prellm models``' listing."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from prellm.cli.main import cli
from prellm.providers import embedded_installed

FREE_MODELS = ["--small", "test/echo", "--large", "test/echo", "--skip-load"]
PG_URL = os.environ.get("PRELLM_TEST_DATABASE_URL")


def doctor(*args: str):
    r = CliRunner().invoke(cli, ["doctor", *FREE_MODELS, *args])
    return r


def checks(r) -> dict[str, dict]:
    return {c["check"]: c for c in json.loads(r.stdout)["checks"]}


def test_doctor_passes_with_free_models_and_fresh_databases(tmp_path):
    r = doctor()
    assert r.exit_code == 0, r.stdout
    data = tmp_path / "data"
    assert f"✓ budget ledger database: {data / 'budget.db'} (schema v" in r.stdout
    assert f"✓ user memory database: {data / 'memory.db'} (schema v" in r.stdout
    assert "fix:" not in r.stdout
    assert "reachable" not in r.stdout  # test/ models are free: nothing to ping


def test_a_broken_config_file_fails_the_models_check_with_a_fix(tmp_path, monkeypatch):
    bad = tmp_path / "prellm.yaml"
    bad.write_text("strategy: magic\n")
    monkeypatch.setenv("PRELLM_CONFIG", str(bad))
    r = doctor("--json")
    assert r.exit_code == 1
    found = checks(r)["models configured"]
    assert not found["ok"] and "prellm.yaml" in found["detail"]
    assert "PRELLM_SMALL_MODEL" in found["fix"]
    assert not any("reachable" in name for name in checks(r))  # no model to ping
    text = doctor()
    assert text.exit_code == 1 and "✗ models configured: " in text.stdout


def test_a_corrupt_ledger_is_named_and_the_other_database_still_checked(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "budget.db").write_text("this is not a database")
    r = doctor("--json")
    assert r.exit_code == 1
    found = checks(r)
    ledger = found["budget ledger database"]
    assert not ledger["ok"] and "not a usable SQLite database" in ledger["detail"]
    assert ledger["fix"] == "move the file away or set PRELLM_DATA_DIR"
    assert found["user memory database"]["ok"]
    assert json.loads(r.stdout)["ok"] is False


@pytest.mark.skipif(not embedded_installed(), reason="needs the local extra")
def test_an_unusable_model_cache_is_reported_not_a_traceback(tmp_path, monkeypatch):
    in_the_way = tmp_path / "cache"
    in_the_way.write_text("a file where the cache directory should be")
    monkeypatch.setenv("PRELLM_CACHE_DIR", str(in_the_way))
    r = doctor()
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert r.exit_code == 1
    assert "✗ embedded model: cannot assemble the embedded model in" in r.stdout
    assert "fix: make the cache directory writable or set PRELLM_CACHE_DIR" in r.stdout


def test_an_unreachable_postgresql_fails_the_state_store_check(monkeypatch):
    pytest.importorskip("psycopg")
    from prellm.store.base import close_backends

    monkeypatch.setenv("PRELLM_DATABASE_URL", "postgresql://nobody:pw@127.0.0.1:1/none")
    monkeypatch.setattr("prellm.store.pg.POOL_TIMEOUT_S", 1.0)  # fail fast, as PRELLM_DB_TIMEOUT=1
    try:
        r = doctor("--json")
    finally:
        close_backends()
    assert r.exit_code == 1
    store = checks(r)["state store (PostgreSQL)"]
    assert not store["ok"] and "database unavailable" in store["detail"]
    assert "pw" not in store["detail"]  # the password is redacted
    assert "PRELLM_DATABASE_URL" in store["fix"]
    assert "budget ledger database" not in checks(r)  # no SQLite files are checked


@pytest.mark.skipif(not PG_URL, reason="needs PRELLM_TEST_DATABASE_URL (source .ci/postgres)")
def test_a_reachable_postgresql_passes_with_every_stores_schema(monkeypatch):
    from test_backends_fixtures import drop_schema, new_schema, with_schema

    schema = new_schema()
    monkeypatch.setenv("PRELLM_DATABASE_URL", with_schema(str(PG_URL), schema))
    try:
        r = doctor()
    finally:
        drop_schema(schema)
    assert r.exit_code == 0, r.stdout
    line = next(x for x in r.stdout.splitlines() if "state store (PostgreSQL)" in x)
    assert line.startswith("✓ ")
    for store in ("budget ledger v", "user memory v", "state cache v"):
        assert store in line


def test_models_lists_embedded_files_and_pairs_with_unknown_prices_said_so():
    r = CliRunner().invoke(cli, ["models"])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("local/qwen2.5-coder-1.5b: ") and " GB · " in lines[0]
    assert lines[1].startswith("  file: ") and lines[1].endswith(".gguf")
    state = lines[0].rsplit(" · ", 1)[1]
    assert state in (
        "ready",
        "installed, assembled on first use",
        "not installed (pip install 'prellm-engine[local]')",
    )
    assert "recommended pairs (USD per million tokens, input/output):" in r.stdout
    hybrid = next(x for x in lines if x.strip().startswith("hybrid "))
    assert (
        "large gpt-4o-mini ($" in hybrid and "small local/qwen2.5-coder-1.5b ($0.0/$0.0)" in hybrid
    )
    assert "price unknown" in r.stdout  # a model missing from litellm's price table


@pytest.mark.skipif(not embedded_installed(), reason="needs the local extra")
def test_models_says_an_installed_model_not_yet_assembled_is_assembled_on_first_use(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PRELLM_CACHE_DIR", str(tmp_path / "empty-cache"))
    r = CliRunner().invoke(cli, ["models"])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].endswith("· installed, assembled on first use")
    assert not (tmp_path / "empty-cache").exists()  # listing assembles nothing
