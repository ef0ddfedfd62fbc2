"""``prellm budget`` and ``prellm session``: the text reports and the refusals."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from prellm.cli.main import cli
from prellm.store import UserMemory

MODELS = ["--small", "test/echo", "--large", "test/echo", "-q"]


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), input=input, env={"COLUMNS": "200", **(env or {})})


def test_budget_table_shows_the_daily_limit_only_when_one_is_set():
    r = invoke("budget")
    assert r.exit_code == 0
    assert "(no monthly limit)" in r.stdout and "today:" not in r.stdout
    r = invoke("budget", env={"PRELLM_MONTHLY_BUDGET": "20", "PRELLM_DAILY_BUDGET": "2"})
    assert r.exit_code == 0, r.stderr
    assert "of $20.00" in r.stdout
    assert r.stdout.rstrip().splitlines()[-1] == "today: $0.000000 of $2.00"


def test_budget_table_lists_recorded_calls_by_model_and_role():
    assert invoke("Deploy app", *MODELS, "-s", "classify").exit_code == 0
    r = invoke("budget")
    assert r.exit_code == 0
    rows = [x for x in r.stdout.splitlines() if "test/echo" in x]
    assert {"small", "large"} <= {cell.strip() for row in rows for cell in row.split("│")}


def test_session_list_prints_one_line_per_session():
    for question, session in (("first", "alpha"), ("second", "alpha"), ("other", "beta")):
        assert invoke(question, *MODELS, "-s", "passthrough", "--session", session).exit_code == 0
    memory = UserMemory()
    r = invoke("session", "list")
    assert r.exit_code == 0
    lines = sorted(r.stdout.splitlines())
    assert len(lines) == 2
    session, user, count, last = lines[0].split("\t")
    assert (session, user, count) == ("alpha", "default", "2 interactions")
    alpha = next(x for x in memory.sessions() if x["session"] == "alpha")
    assert last == "last " + time.strftime("%Y-%m-%d %H:%M", time.localtime(alpha["last"]))
    assert lines[1].startswith("beta\tdefault\t1 interactions\tlast ")


def test_session_list_is_empty_without_sessions():
    r = invoke("session", "list")
    assert r.exit_code == 0 and r.stdout == ""


def test_showing_an_unknown_session_exits_1():
    r = invoke("session", "show", "nosuch")
    assert r.exit_code == 1
    assert r.stderr == "prellm: error: no session 'nosuch'\n" and r.stdout == ""


def test_clearing_asks_first_and_a_no_keeps_everything():
    assert invoke("keep me", *MODELS, "-s", "passthrough", "--session", "s1").exit_code == 0
    r = invoke("session", "clear", "s1", input="n\n")
    assert r.exit_code == 1 and "Forget session 's1'?" in r.stdout
    assert json.loads(invoke("session", "list", "--json").stdout)[0]["session"] == "s1"
    r = invoke("session", "clear", input="n\n")
    assert r.exit_code == 1 and "Forget every session and preference?" in r.stdout
    r = invoke("session", "clear", "s1", input="y\n")
    assert r.exit_code == 0 and "deleted 1 interactions" in r.stderr
    assert json.loads(invoke("session", "list", "--json").stdout) == []


def test_preferences_must_be_key_value_with_a_valid_name():
    r = invoke("session", "prefer", "language")
    assert r.exit_code == 2 and "'language': expected KEY=VALUE" in r.stderr
    r = invoke("session", "prefer", "not a name!=x")
    assert r.exit_code == 2 and "'not a name!' is not a valid preference name" in r.stderr
    assert UserMemory().preferences("default") == {}
    r = invoke("session", "prefer", "tone = brief", "--user", "ala")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"tone": "brief"}
