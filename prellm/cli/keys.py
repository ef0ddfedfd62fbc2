"""``prellm keys`` and ``prellm teams``: virtual keys with budgets, rates and models.

They live in the state store (``PRELLM_DATABASE_URL``, else the SQLite ledger in
the data directory), so every ``prellm serve`` on that store sees them at once.
A new key is printed once, on stdout; nothing stores or prints it again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from .main import cli

CLEAR = "none"  # --budget none, --rpm none ...: remove that limit


class OptionalNumber(click.ParamType):  # type: ignore[type-arg]
    """A number, or ``none`` to clear the limit."""

    name = "NUMBER|none"

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None or isinstance(value, self.kind):
            return value
        if str(value).strip().lower() == CLEAR:
            return CLEAR
        try:
            number = self.kind(value)
        except ValueError:
            self.fail(f"{value!r} is not a number (or {CLEAR!r})", param, ctx)
        if number < (0 if self.kind is float else 1):
            self.fail(f"{value!r} is out of range", param, ctx)
        return number


def _quota_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--budget", type=OptionalNumber(float), help="USD per period."),
            click.option("--budget-period", type=click.Choice(["month", "day"])),
            click.option("--rpm", type=OptionalNumber(int), help="Requests per minute."),
            click.option("--tpm", type=OptionalNumber(int), help="Tokens per minute."),
            click.option("--models", metavar="PATTERN,...", help="Allowed large models (globs)."),
        ]
    ):
        f = option(f)
    return f


def _quota(**given: Any) -> dict[str, Any]:
    """The limits the user set, ``none`` as None (cleared); options not given left out."""
    names = {"budget": "budget_usd"}
    out = {}
    for k, v in given.items():
        if v is not None:
            out[names.get(k, k)] = None if v == CLEAR else v
    return out


def _registry() -> Any:
    from ..store import BudgetTracker

    return BudgetTracker().keys


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else "-"


def _money(usd: float | None) -> str:
    return "-" if usd is None else f"${usd:.4f}"


def _print_rows(rows: list[dict[str, Any]], columns: list[tuple[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for name, _ in columns:
        table.add_column(name)
    for r in rows:
        table.add_row(*[str(fn(r)) for _, fn in columns])
    Console().print(table)


KEY_COLUMNS = [
    ("id", lambda r: r["id"]),
    ("name", lambda r: r["name"]),
    ("team", lambda r: r.get("team_name") or "-"),
    ("status", lambda r: r["status"]),
    ("spent", lambda r: _money(r["spent_usd"])),
    ("budget", lambda r: f"{_money(r['budget_usd'])}/{r['budget_period']}"),
    ("rpm", lambda r: r["rpm"] or "-"),
    ("tpm", lambda r: r["tpm"] or "-"),
    ("models", lambda r: ",".join(r["models"]) or "any"),
    ("expires", lambda r: _when(r["expires"])),
]
TEAM_COLUMNS = [
    ("id", lambda r: r["id"]),
    ("name", lambda r: r["name"]),
    ("spent", lambda r: _money(r["spent_usd"])),
    ("budget", lambda r: f"{_money(r['budget_usd'])}/{r['budget_period']}"),
    ("rpm", lambda r: r["rpm"] or "-"),
    ("tpm", lambda r: r["tpm"] or "-"),
    ("models", lambda r: ",".join(r["models"]) or "any"),
]


@cli.group()
def keys() -> None:
    """Virtual keys for `prellm serve`: budgets, rate limits, allowed models, expiry."""


@keys.command("create")
@click.option("--name", required=True)
@click.option("--team", metavar="TEAM", help="Team id or name.")
@_quota_options
@click.option("--expires", metavar="DATE", help="YYYY-MM-DD (end of day, UTC) or ISO time.")
@click.option("--json", "as_json", is_flag=True, help="The key and its record as JSON.")
def keys_create(
    name: str, team: str | None, expires: str | None, as_json: bool, **quota: Any
) -> None:
    """Make a key; it is printed once, on stdout, and stored only as a hash."""
    token, record = _registry().create_key(name, team=team, expires=expires, **_quota(**quota))
    if as_json:
        click.echo(json.dumps({"key": token, **record}, indent=2))
        return
    click.echo(token)
    click.echo(f"key {record['id']} ({name}) created; it is shown only this once", err=True)


@keys.command("list")
@click.option("--team", metavar="TEAM")
@click.option("--json", "as_json", is_flag=True)
def keys_list(team: str | None, as_json: bool) -> None:
    """Every key with its status and spend (never the keys themselves)."""
    rows = _registry().keys(team)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _print_rows(rows, KEY_COLUMNS, f"{len(rows)} key(s)")


@keys.command("update")
@click.argument("key_id")
@click.option("--name")
@click.option("--team", metavar="TEAM|none")
@_quota_options
@click.option("--expires", metavar="DATE|none")
def keys_update(
    key_id: str, name: str | None, team: str | None, expires: str | None, **quota: Any
) -> None:
    """Change a key's name, team, limits or expiry (`none` clears one)."""
    changes = _quota(name=name, **quota)
    if team is not None:
        changes["team"] = None if team == CLEAR else team
    if expires is not None:
        changes["expires"] = None if expires == CLEAR else expires
    record = _registry().update_key(key_id, **changes)
    click.echo(json.dumps(record, indent=2))


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Refuse the key from now on, on every server sharing the store."""
    _registry().revoke(key_id)
    click.echo(f"key {key_id} revoked", err=True)


@cli.group()
def teams() -> None:
    """Teams: a budget, rate limits and models shared by their keys."""


@teams.command("create")
@click.option("--name", required=True)
@_quota_options
@click.option("--json", "as_json", is_flag=True)
def teams_create(name: str, as_json: bool, **quota: Any) -> None:
    record = _registry().create_team(name, **_quota(**quota))
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(record["id"])
    click.echo(f"team {record['id']} ({name}) created", err=True)


@teams.command("list")
@click.option("--json", "as_json", is_flag=True)
def teams_list(as_json: bool) -> None:
    rows = _registry().teams()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _print_rows(rows, TEAM_COLUMNS, f"{len(rows)} team(s)")


@teams.command("update")
@click.argument("team")
@click.option("--name")
@_quota_options
def teams_update(team: str, name: str | None, **quota: Any) -> None:
    """Change a team's name or limits (`none` clears one)."""
    record = _registry().update_team(team, **_quota(name=name, **quota))
    click.echo(json.dumps(record, indent=2))
