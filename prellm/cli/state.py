"""``prellm budget`` and ``prellm session``: the local ledger and memory."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from .main import cli


def _fail(exc: Exception) -> None:
    click.echo(f"prellm: error: {exc}", err=True)
    sys.exit(getattr(exc, "exit_code", 1))


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def budget(ctx: click.Context, as_json: bool) -> None:
    """Spend this month by model and role, with the limits (PRELLM_MONTHLY_BUDGET, PRELLM_DAILY_BUDGET)."""
    if ctx.invoked_subcommand:
        return
    from ..errors import PreLLMError
    from ..store import BudgetTracker

    try:
        report = BudgetTracker().month_report()
    except PreLLMError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    limit = report["monthly_limit_usd"]
    title = f"preLLM spend {report['month']}: ${report['spent_usd']:.6f}" + (
        f" of ${limit:.2f}" if limit is not None else " (no monthly limit)"
    )
    table = Table(title=title)
    for col in ("model", "role", "calls", "tokens in", "tokens out", "cost USD"):
        table.add_column(col, justify="right" if col not in ("model", "role") else "left")
    for r in report["by_model"]:
        table.add_row(
            r["model"],
            r["role"],
            str(r["calls"]),
            str(r["prompt_tokens"]),
            str(r["completion_tokens"]),
            f"{r['cost_usd'] or 0:.6f}",
        )
    Console().print(table)
    if report["daily_limit_usd"] is not None:
        click.echo(f"today: ${report['spent_today_usd']:.6f} of ${report['daily_limit_usd']:.2f}")


@budget.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def budget_reset(yes: bool) -> None:
    """Forget all recorded spend."""
    from ..store import BudgetTracker

    if not yes and not click.confirm("Delete every recorded call from the budget ledger?"):
        click.echo("nothing changed", err=True)
        sys.exit(1)
    n = BudgetTracker().reset()
    click.echo(f"deleted {n} recorded calls", err=True)


@cli.group()
def session() -> None:
    """What preLLM remembers per session (used with --session ID)."""


def _memory() -> Any:
    from ..store import UserMemory

    return UserMemory()


@session.command("list")
@click.option("--json", "as_json", is_flag=True)
def session_list(as_json: bool) -> None:
    rows = _memory().sessions()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        last = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["last"]))
        click.echo(f"{r['session']}\t{r['user']}\t{r['interactions']} interactions\tlast {last}")


@session.command("show")
@click.argument("session_id")
def session_show(session_id: str) -> None:
    rows = _memory().show(session_id)
    if not rows:
        click.echo(f"prellm: error: no session {session_id!r}", err=True)
        sys.exit(1)
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["ts"]))
        click.echo(
            f"[{when}] ({r['strategy']}, {r['intent']}) {r['query']}\n  → {r['answer_summary']}"
        )


@session.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
def session_export(file: str) -> None:
    n = _memory().export(file)
    click.echo(f"exported {n} interactions to {file}", err=True)


@session.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
def session_import(file: str) -> None:
    from ..errors import PreLLMError

    try:
        n = _memory().import_(file)
    except PreLLMError as exc:
        _fail(exc)
    click.echo(f"imported {n} interactions", err=True)


@session.command("clear")
@click.argument("session_id", required=False)
@click.option("--yes", is_flag=True)
def session_clear(session_id: str | None, yes: bool) -> None:
    """Forget one session, or everything (with preferences) when no ID is given."""
    what = f"session {session_id!r}" if session_id else "every session and preference"
    if not yes and not click.confirm(f"Forget {what}?"):
        sys.exit(1)
    n = _memory().clear(session_id)
    click.echo(f"deleted {n} interactions", err=True)


@session.command("prefer")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--user", default="default", show_default=True)
def session_prefer(assignments: tuple[str, ...], user: str) -> None:
    """Set preferences used as context, e.g. `prellm session prefer language=pl tone=brief`."""
    from pydantic import ValidationError

    mem = _memory()
    for a in assignments:
        key, sep, value = a.partition("=")
        if not sep:
            raise click.BadParameter(f"{a!r}: expected KEY=VALUE")
        try:
            mem.set_preference(user, key.strip(), value.strip())
        except ValidationError:
            raise click.BadParameter(f"{key!r} is not a valid preference name") from None
    click.echo(json.dumps(mem.preferences(user)))
