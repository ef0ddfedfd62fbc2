"""The ledger, memory and migrations on both backends: upgrades, refusing a newer schema,
concurrent reservations, copying SQLite to PostgreSQL, and failing closed without a database."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx
import pytest
from click.testing import CliRunner
from test_backends_fixtures import (  # noqa: F401 - backend is a fixture
    NO_PG,
    PG_URL,
    backend,
    drop_schema,
    new_schema,
    with_schema,
)

from prellm.cli.main import cli
from prellm.errors import BudgetExceededError, ConfigError
from prellm.models import StageRecord
from prellm.store import BudgetTracker, Limits, UserMemory
from prellm.store.budget import MIGRATIONS
from prellm.store.errors import StoreUnavailableError

needs_pg = pytest.mark.skipif(not PG_URL, reason=NO_PG)


def stage(cost: float, model: str = "m") -> StageRecord:
    return StageRecord(stage="large", model=model, role="large", cost_usd=cost, ms=1.0)


def test_limits_and_running_totals(backend):  # noqa: F811
    tracker = BudgetTracker(limits=Limits(monthly=1.0, per_model_monthly={"big": 0.5}))
    rid = tracker.reserve(["big"], 0.4)
    with pytest.raises(BudgetExceededError, match="monthly big"):
        tracker.reserve(["big"], 0.2)
    tracker.settle(rid, [stage(0.3, "big")], api_key="k1", user="u")
    tracker.reserve(["big"], 0.2)  # 0.3 spent + 0.2 held fits 0.5
    with pytest.raises(BudgetExceededError, match=r"monthly budget \$1.0000"):
        tracker.reserve(["small"], 0.6)
    report = tracker.month_report()
    assert report["spent_usd"] == pytest.approx(0.3) and report["by_model"][0]["calls"] == 1
    month, day = __import__("prellm.store.ledger", fromlist=["periods"]).periods(time.time())
    assert tracker.spent("all", month) == pytest.approx(0.3)
    assert tracker.spent("model:big", day) == pytest.approx(0.3)
    assert tracker.reset() == 1 and tracker.month_report()["spent_usd"] == 0


def test_concurrent_reservations_overshoot_by_at_most_one(backend):  # noqa: F811
    tracker = BudgetTracker(limits=Limits(monthly=1.0))
    admitted: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        other = BudgetTracker(limits=Limits(monthly=1.0))  # its own connection
        for _ in range(10):
            try:
                rid = other.reserve(["m"], 0.05)
            except BudgetExceededError:
                continue
            other.settle(rid, [stage(0.04)])
            with lock:
                admitted.append(rid)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = tracker.month_report()["spent_usd"]
    assert spent <= 1.0 + 0.05 and len(admitted) >= 20


def test_memory_on_both_backends(backend):  # noqa: F811
    mem = UserMemory()
    mem.add(
        "u",
        "s",
        "How do I deploy?",
        intent="deploy",
        strategy="structure",
        summary=None,
        answer="Use Helm.",
    )
    mem.set_preference("u", "language", "pl")
    mem.set_preference("u", "language", "en")
    assert mem.preferences("u") == {"language": "en"}
    assert "Use Helm" in (mem.context_text("u", "s", "deploy again") or "")
    assert mem.sessions()[0]["interactions"] == 1 and mem.clear() == 1


def test_an_old_sqlite_ledger_is_upgraded_with_its_totals(tmp_path):
    path = tmp_path / "budget.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        MIGRATIONS[0].sql.format(REAL="REAL", ID="INTEGER PRIMARY KEY", BIGINT="INTEGER")
    )
    conn.execute(
        "INSERT INTO calls (ts, model, role, prompt_tokens, completion_tokens, cost_usd, ms, api_key) "
        "VALUES (?, 'gpt', 'large', 1, 1, 0.25, 1, 'key-abc')",
        (time.time(),),
    )
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    tracker = BudgetTracker(path, Limits(monthly=0.5))
    assert tracker.schema_version == len(MIGRATIONS)
    with pytest.raises(BudgetExceededError, match=r"spent \$0.2500"):
        tracker.reserve(["gpt"], 0.3)
    r = CliRunner().invoke(cli, ["db", "upgrade", "--url", f"sqlite:///{tmp_path}"])
    assert r.exit_code == 0 and "budget: schema 3" in r.stdout


def test_a_database_newer_than_the_code_is_one_clear_error(backend, tmp_path):  # noqa: F811
    BudgetTracker().schema_version  # noqa: B018 - created at this version
    if backend == "sqlite":
        from prellm.store import data_dir

        sqlite3.connect(data_dir() / "budget.db").execute(
            "PRAGMA user_version=99"
        ).connection.commit()
    else:
        import psycopg

        with psycopg.connect(backend, autocommit=True) as c:
            c.execute("UPDATE prellm_schema SET version = 99 WHERE store = 'budget'")
        from prellm.store.base import close_backends

        close_backends()
    with pytest.raises(ConfigError, match="newer preLLM"):
        BudgetTracker().month_report()
    r = CliRunner().invoke(cli, ["db", "upgrade"])
    assert r.exit_code == 2 and "newer preLLM" in r.stderr and len(r.stderr.splitlines()) == 1


@needs_pg
def test_db_copy_moves_ledger_keys_and_memory_to_postgresql(tmp_path, monkeypatch):
    monkeypatch.delenv("PRELLM_DATABASE_URL", raising=False)
    tracker = BudgetTracker()
    key, record = tracker.keys.create_key("ci", team=tracker.keys.create_team("ml")["id"], rpm=5)
    rid = tracker.admit_principal(tracker.keys.authenticate(key)[0], ["m"], 0.0, 1)
    tracker.settle(rid, [stage(0.125)], api_key=key, user="u")
    UserMemory().add("u", "s", "q", intent=None, strategy=None, summary=None, answer="a")
    schema = new_schema()
    url = with_schema(str(PG_URL), schema)
    try:
        r = CliRunner().invoke(cli, ["db", "copy", "--to", url])
        assert r.exit_code == 0, r.output
        assert "1 teams, 1 keys, 1 calls" in r.stderr and "prellm_test:***@" in r.stderr
        monkeypatch.setenv("PRELLM_DATABASE_URL", url)
        moved = BudgetTracker()
        assert moved.keys.authenticate(key)[0].key_id == record["id"]
        assert moved.keys.key(record["id"])["spent_usd"] == pytest.approx(0.125)
        assert UserMemory().sessions()[0]["interactions"] == 1
        from prellm.store import data_dir

        source = f"sqlite:///{data_dir()}"
        again = CliRunner().invoke(cli, ["db", "copy", "--from", source, "--to", url])
        assert again.exit_code == 2 and "not empty" in again.stderr
    finally:
        drop_schema(schema)


@needs_pg
def test_an_unreachable_database_fails_closed(serve, provider, monkeypatch):
    from prellm.store.base import close_backends

    monkeypatch.setenv("PRELLM_DATABASE_URL", "postgresql://nobody:x@127.0.0.1:1/none")
    monkeypatch.setenv("PRELLM_DB_TIMEOUT", "1")
    monkeypatch.setenv("PRELLM_MASTER_KEY", "mk-0000")
    monkeypatch.setattr("prellm.store.pg.POOL_TIMEOUT_S", 1.0)
    try:
        with pytest.raises(StoreUnavailableError):
            BudgetTracker().month_report()
        url = serve(small="test/echo", large="test/echo", strategy="passthrough")
        base = url.removesuffix("/v1")
        body = {"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}]}
        key = "pk-0123456789ab-" + "x" * 43
        r = httpx.post(
            f"{url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "state_store_unavailable"
        master = {"Authorization": "Bearer mk-0000"}
        ready = httpx.get(f"{base}/health/readiness", headers=master, timeout=30)
        assert ready.status_code == 503
        store = [c for c in ready.json()["checks"] if "store" in c][0]
        assert not store["ok"] and "database unavailable" in store["detail"]
    finally:
        close_backends()
