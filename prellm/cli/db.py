"""``prellm db``: the state store's schema and moving state between backends.

prellm db upgrade [--url URL]          # run pending migrations, print each store's version
prellm db copy --from sqlite:///DIR --to postgresql://user:pw@host/db
"""

from __future__ import annotations

import json

import click

from .main import cli


@cli.group()
def db() -> None:
    """The state store: SQLite files (default) or PostgreSQL (PRELLM_DATABASE_URL)."""


@db.command("upgrade")
@click.option("--url", metavar="URL", help="postgresql://… or sqlite:///DIR (default: as serve).")
@click.option("--json", "as_json", is_flag=True)
def db_upgrade(url: str | None, as_json: bool) -> None:
    """Migrate every store to this preLLM's schema (a newer database is an error, exit 2)."""
    from ..store.copy import describe, open_stores, versions

    rows = versions(open_stores(url))
    if as_json:
        click.echo(json.dumps({"backend": describe(url), "stores": rows}, indent=2))
        return
    click.echo(f"backend: {describe(url)}")
    for r in rows:
        click.echo(f"  {r['store']}: schema {r['version']} ({', '.join(r['migrations'])})")


@db.command("copy")
@click.option("--from", "source", metavar="URL", help="Default: where this preLLM keeps state.")
@click.option("--to", "target", metavar="URL", required=True)
def db_copy(source: str | None, target: str) -> None:
    """Copy ledger, spend totals, keys, teams and memory into an empty database."""
    from ..store.copy import copy_state, describe, open_stores

    if describe(source) == describe(target):
        raise click.BadParameter("--from and --to are the same database", param_hint="--to")
    counts = copy_state(open_stores(source), open_stores(target))
    summary = ", ".join(f"{n} {table}" for table, n in counts.items())
    click.echo(f"copied {summary} from {describe(source)} to {describe(target)}", err=True)
