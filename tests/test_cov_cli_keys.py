"""``prellm keys``, ``prellm teams`` and ``prellm db``: output forms, limits given as
numbers or ``none``, and moving state between SQLite directories."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from prellm.cli.keys import CLEAR, OptionalNumber
from prellm.cli.main import cli
from prellm.store import BudgetTracker


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250", **(env or {})})


def test_create_json_prints_the_key_once_with_its_record():
    r = invoke("keys", "create", "--name", "ci", "--rpm", "10", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["key"].startswith("pk-") and r.stdout.count(data["key"]) == 1
    assert (data["name"], data["rpm"]) == ("ci", 10)
    assert data["key"] not in invoke("keys", "list", "--json").stdout


def test_limits_that_are_not_numbers_are_usage_errors():
    r = invoke("keys", "create", "--name", "x", "--budget", "lots")
    assert r.exit_code == 2 and "'lots' is not a number (or 'none')" in r.stderr
    r = invoke("keys", "create", "--name", "x", "--rpm", "2.5")  # requests are whole
    assert r.exit_code == 2 and "'2.5' is not a number" in r.stderr
    r = invoke("teams", "create", "--name", "t", "--budget", "-1")
    assert r.exit_code == 2 and "'-1' is out of range" in r.stderr
    assert BudgetTracker().keys.keys() == [] and BudgetTracker().keys.teams() == []


def test_a_limit_given_as_a_number_already_is_kept():
    """Click passes defaults and programmatic values through the type unchanged."""
    assert OptionalNumber(float).convert(2.5, None, None) == 2.5
    assert OptionalNumber(int).convert(None, None, None) is None
    assert OptionalNumber(int).convert(" None ", None, None) == CLEAR
    with pytest.raises(click.BadParameter, match="out of range"):
        OptionalNumber(int).convert("0", None, None)  # a rate of 0 requests is not a limit


def test_update_sets_and_clears_the_expiry():
    key_id = json.loads(invoke("keys", "create", "--name", "tmp", "--json").stdout)["id"]
    r = invoke("keys", "update", key_id, "--expires", "2099-01-01")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["expires"] is not None
    listed = invoke("keys", "list").stdout
    assert "2099-01-01 23:59" in listed
    r = invoke("keys", "update", key_id, "--expires", "none")
    assert r.exit_code == 0 and json.loads(r.stdout)["expires"] is None
    r = invoke("keys", "update", key_id, "--expires", "someday")
    assert r.exit_code == 2 and "'someday' is not a date" in r.stderr


def test_teams_create_json_and_the_team_table():
    r = invoke("teams", "create", "--name", "ml", "--budget", "2", "--models", "gpt-4o*", "--json")
    assert r.exit_code == 0, r.stderr
    team = json.loads(r.stdout)
    assert (team["name"], team["budget_usd"], team["models"]) == ("ml", 2.0, ["gpt-4o*"])
    invoke("teams", "create", "--name", "ops")
    r = invoke("teams", "list")
    assert r.exit_code == 0
    assert "2 team(s)" in r.stdout
    ml = next(x for x in r.stdout.splitlines() if f" {team['id']} " in x)
    assert "$2.0000/month" in ml and "gpt-4o*" in ml
    ops = next(x for x in r.stdout.splitlines() if " ops " in x)
    assert "-/month" in ops and "any" in ops


def test_db_upgrade_reports_every_store_as_text_and_json(tmp_path):
    r = invoke("db", "upgrade")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"backend: sqlite:///{tmp_path / 'data'}"
    assert [x.split(":")[0].strip() for x in lines[1:]] == ["budget", "memory", "cache"]
    assert lines[1].startswith("  budget: schema ") and "(budget-1-ledger, " in lines[1]
    data = json.loads(invoke("db", "upgrade", "--json").stdout)
    assert data["backend"] == f"sqlite:///{tmp_path / 'data'}"
    assert all(s["version"] == len(s["migrations"]) for s in data["stores"])
    other = tmp_path / "other"
    r = invoke("db", "upgrade", "--url", f"sqlite:///{other}", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["backend"] == f"sqlite:///{other}"
    assert (other / "budget.db").is_file()


def test_db_upgrade_rejects_an_unknown_url_scheme():
    r = invoke("db", "upgrade", "--url", "mysql://db/prellm")
    assert r.exit_code == 2 and "expected postgresql://... or sqlite:///DIRECTORY" in r.stderr


def test_db_copy_moves_keys_to_another_directory_and_refuses_the_same_one(tmp_path):
    created = json.loads(invoke("keys", "create", "--name", "moved", "--json").stdout)
    target = f"sqlite:///{tmp_path / 'copy'}"
    r = invoke("db", "copy", "--to", f"sqlite:///{tmp_path / 'data'}")
    assert r.exit_code == 2 and "--from and --to are the same database" in r.stderr
    r = invoke("db", "copy", "--to", target)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.startswith("copied ") and f"to {target}" in r.stderr
    moved = invoke("keys", "list", "--json", env={"PRELLM_DATA_DIR": str(tmp_path / "copy")})
    assert [k["id"] for k in json.loads(moved.stdout)] == [created["id"]]
