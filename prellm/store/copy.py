"""Every store of one place (a SQLite directory or a PostgreSQL URL), their versions, and
copying the lasting state — ledger, keys, teams, memory — from one place to another."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Store
from .budget import BudgetTracker
from .cache import StateCache
from .db import data_dir, redact_url, sqlite_path
from .memory import UserMemory

STORES: tuple[type[Store], ...] = (BudgetTracker, UserMemory, StateCache)
# (store, table, columns): teams before keys (keys name their team); ids regenerated for calls.
TABLES = [
    (
        BudgetTracker,
        "teams",
        "id, name, budget_usd, budget_period, rpm, tpm, models, created, updated",
    ),
    (
        BudgetTracker,
        "keys",
        "id, name, team_id, hash, budget_usd, budget_period, rpm, tpm, models, expires, revoked, "
        "created, updated",
    ),
    (
        BudgetTracker,
        "calls",
        'ts, request_id, model, role, prompt_tokens, completion_tokens, cost_usd, ms, api_key, "user", '
        "key_id, team_id",
    ),
    (BudgetTracker, "spend", "scope, period, usd"),
    (
        UserMemory,
        "interactions",
        'ts, "user", session, query, intent, strategy, summary, answer_summary',
    ),
    (UserMemory, "preferences", '"user", key, value, ts'),
]
BATCH = 5000


def open_stores(url: str | None) -> dict[type[Store], Store]:
    """The stores at ``url``: ``postgresql://…``, ``sqlite:///DIR`` (or a file in DIR), or
    None for where this process keeps them (``PRELLM_DATABASE_URL``, else the data dir)."""
    if url is None:
        return {cls: cls() for cls in STORES}
    if url.startswith(("postgresql://", "postgres://")):
        return {cls: cls(url=url) for cls in STORES}
    if url.startswith("sqlite:"):
        folder = sqlite_path(url)
        folder = folder.parent if folder.suffix == ".db" else folder
        return {cls: cls(folder / cls.FILENAME) for cls in STORES}
    raise ConfigError(f"{url!r}: expected postgresql://... or sqlite:///DIRECTORY")


def describe(url: str | None) -> str:
    if url is None:
        from .db import database_url

        pg = database_url()
        return redact_url(pg) if pg else f"sqlite:///{data_dir()}"
    return redact_url(url)


def versions(stores: dict[type[Store], Store]) -> list[dict[str, Any]]:
    """Each store's schema version (opening, and so migrating, it)."""
    return [
        {
            "store": cls.NAME,
            "where": s.where,
            "version": s.schema_version,
            "migrations": [m.name for m in cls.migrations()],
        }
        for cls, s in stores.items()
    ]


def copy_state(
    source: dict[type[Store], Store], target: dict[type[Store], Store]
) -> dict[str, int]:
    """Copy ledger, keys, teams and memory; the target's tables must be empty. Each store is
    one transaction on the target: all of it or nothing."""
    counts: dict[str, int] = {}
    for cls in (BudgetTracker, UserMemory):
        tables = [(t, cols) for c, t, cols in TABLES if c is cls]
        with target[cls].transaction() as tx:
            for table, _ in tables:
                if tx.scalar(f"SELECT 1 FROM {table} LIMIT 1") is not None:
                    raise ConfigError(
                        f"{target[cls].where}: table {table} is not empty; nothing was copied "
                        "(copy into a new database)"
                    )
            for table, cols in tables:
                counts[table] = _copy_table(source[cls], tx, table, cols)
    return counts


def _copy_table(source: Store, tx: Any, table: str, cols: str) -> int:
    placeholders = ", ".join("?" * len(cols.split(",")))
    n, offset = 0, 0
    while True:
        with source.read() as src:
            rows = src.all(
                f"SELECT {cols} FROM {table} ORDER BY {cols} LIMIT ? OFFSET ?", (BATCH, offset)
            )
        if not rows:
            return n
        tx.many(
            f"INSERT INTO {table} ({cols}) VALUES ({placeholders})",
            [tuple(r.values()) for r in rows],
        )
        n += len(rows)
        offset += BATCH
