"""The state store's edges: budget settings from the environment, daily limits and released
holds, key and team validation, memory imports, the cache, and SQLite files that will not
open or migrate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from prellm.errors import BudgetExceededError, ConfigError
from prellm.store import BudgetTracker, UserMemory
from prellm.store.budget import Limits
from prellm.store.cache import StateCache
from prellm.store.db import (
    Migration,
    data_dir,
    open_db,
    pg_sql,
    redact_url,
    schema_version,
)

PRICED = "openai/gpt-4o-mini"


# --- budgets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [("ten", "PRELLM_MONTHLY_BUDGET='ten' is not a number of USD"), ("-1", "must not be negative")],
)
def test_a_monthly_budget_that_is_not_a_usd_amount_is_a_config_error(monkeypatch, value, message):
    monkeypatch.setenv("PRELLM_MONTHLY_BUDGET", value)
    with pytest.raises(ConfigError, match=message):
        Limits.from_env()


def test_a_daily_budget_refuses_what_would_pass_it_and_released_holds_free_it():
    tracker = BudgetTracker(None, Limits(daily=1.0))
    held = tracker.reserve([PRICED], 0.75)
    with pytest.raises(BudgetExceededError, match="daily"):
        tracker.reserve([PRICED], 0.5)  # 0.75 held + 0.5 > 1.0
    tracker.release(held)  # refused after reserving: nothing was spent
    tracker.release(None)  # nothing held: nothing to do
    tracker.release(tracker.reserve([PRICED], 0.9))
    assert tracker.spent("all", "day") == 0.0


# --- keys and teams ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "name: 1 to 100 characters"),
        ({"budget_usd": -1}, "budget: must not be negative"),
        ({"budget_period": "year"}, "budget period: one of month, day"),
        ({"rpm": 0}, "rpm: at least 1"),
        ({"tpm": 0}, "tpm: at least 1"),
    ],
)
def test_team_changes_are_validated_before_anything_is_written(changes, message):
    registry = BudgetTracker().keys
    registry.create_team("ml", budget_usd=5)
    with pytest.raises(ConfigError, match=message):
        registry.update_team("ml", **changes)
    team = registry.team("ml")
    assert (team["name"], team["budget_usd"], team["rpm"]) == ("ml", 5, None)


def test_a_missing_budget_period_keeps_the_one_set():
    registry = BudgetTracker().keys
    registry.create_team("ml", budget_usd=5, budget_period="day")
    team = registry.update_team("ml", budget_usd=6, budget_period=None)
    assert (team["budget_usd"], team["budget_period"]) == (6, "day")


def test_a_key_for_an_unknown_team_is_refused():
    with pytest.raises(ConfigError, match="no team 'nope'"):
        BudgetTracker().keys.create_key("ci", team="nope")
    assert BudgetTracker().keys.keys() == []


def test_a_key_expiry_without_a_zone_is_utc_and_an_expired_key_is_refused():
    registry = BudgetTracker().keys
    token, record = registry.create_key("ci", expires="2000-01-01T12:00:00")
    assert record["expires"] == 946728000.0  # 2000-01-01 12:00 UTC
    principal, why = registry.authenticate(token)
    assert principal is None and why == "API key expired"
    with pytest.raises(ConfigError, match="is not a date"):
        registry.create_key("ci2", expires="next tuesday")


def test_spend_is_by_month_or_day_only():
    registry = BudgetTracker().keys
    assert set(registry.spend("day")) >= {"teams", "keys"}
    with pytest.raises(ConfigError, match="period: one of month, day"):
        registry.spend("year")


# --- memory and cache ----------------------------------------------------------------------


def test_a_memory_import_from_a_missing_or_broken_file_names_the_file(tmp_path):
    memory = UserMemory()
    with pytest.raises(ConfigError, match="missing.json: cannot read"):
        memory.import_(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{\n "interactions": [\n')
    with pytest.raises(ConfigError, match=r"broken.json:3: not valid JSON"):
        memory.import_(broken)


def test_clearing_one_session_keeps_the_others():
    memory = UserMemory()
    turn = {"intent": "ask", "strategy": "classify", "summary": None}
    memory.add("alice", "s1", "first question", answer="first answer", **turn)
    memory.add("alice", "s2", "second question", answer="second answer", **turn)
    memory.set_preference("alice", "tone", "brief")
    assert memory.clear("s1") == 1
    assert memory.show("s1") == [] and len(memory.show("s2")) == 1
    assert memory.preferences("alice") == {"tone": "brief"}


def test_a_cache_entry_can_be_deleted_once():
    cache = StateCache()
    cache.put("decomposition", "k1", {"v": 1}, ttl_s=60)
    assert cache.get("decomposition", "k1") == {"v": 1}
    assert cache.delete("decomposition", "k1") is True
    assert cache.delete("decomposition", "k1") is False
    assert cache.get("decomposition", "k1") is None


# --- where the data lives, and SQLite files ---------------------------------------------


def test_the_data_dir_follows_xdg_when_not_set(monkeypatch, tmp_path):
    monkeypatch.delenv("PRELLM_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "prellm"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert data_dir() == Path.home() / ".local" / "share" / "prellm"


def test_database_urls_are_shown_without_their_password():
    assert (
        redact_url("postgresql://app:s3cret@db:5432/prellm")
        == "postgresql://app:***@db:5432/prellm"
    )
    assert redact_url("postgresql://app@db/prellm") == "postgresql://app@db/prellm"


def test_store_sql_placeholders_become_psycopg_ones():
    assert pg_sql("SELECT * FROM t WHERE a = ? AND b LIKE 'x%'") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%'"
    )


def test_open_db_migrates_a_file_once(tmp_path):
    path = tmp_path / "legacy.db"
    migrations = ["CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1)"]
    conn = open_db(path, migrations)
    assert schema_version(conn) == 2
    conn.close()
    conn = open_db(path, migrations)  # already migrated: nothing runs twice
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    conn.close()


def test_a_failing_migration_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.db"
    with pytest.raises(ConfigError, match=r"bad.db: migration failed"):
        open_db(path, [Migration("m1", "CREATE TABLE t (x)"), "CREATE TABLE t (x)"])
    assert schema_version(sqlite3.connect(path)) == 1  # the first step stayed


def test_a_database_path_that_is_a_directory_cannot_be_opened(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(ConfigError, match="dir.db"):
        open_db(tmp_path / "dir.db", ["CREATE TABLE t (x)"])
