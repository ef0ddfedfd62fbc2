"""The ledger's building blocks: periods, scopes, holds, and the limit check itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .db import Tx

RESERVATION_TTL_S = 15 * 60  # a crashed process's reservation stops counting after this


def month_start(now: float) -> float:
    d = datetime.fromtimestamp(now, UTC)
    return datetime(d.year, d.month, 1, tzinfo=UTC).timestamp()


def day_start(now: float) -> float:
    d = datetime.fromtimestamp(now, UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def periods(ts: float) -> tuple[str, str]:
    """The UTC month and day ``ts`` falls in, as the ledger's running totals name them."""
    d = datetime.fromtimestamp(ts, UTC)
    return f"M{d:%Y-%m}", f"D{d:%Y-%m-%d}"


def period_of(kind: str, ts: float) -> str:
    """``kind`` 'month' or 'day'."""
    month, day = periods(ts)
    return day if kind == "day" else month


@dataclass(frozen=True)
class Check:
    """One limit a reservation is checked against: ``scope`` in ``period`` up to ``limit``."""

    name: str
    limit: float
    scope: str  # all, model:<m>, label:<key label>, key:<id>, team:<id>
    period: str


@dataclass(frozen=True)
class Reservation:
    """What a request holds, and whom its calls are attributed to when it settles."""

    id: str
    key_id: str | None = None
    team_id: str | None = None
    rated: bool = False  # rate windows hold this request's estimated tokens


def held_where(scope: str) -> tuple[str, tuple[Any, ...]]:
    """The reservations that count against ``scope``."""
    kind, _, value = scope.partition(":")
    if kind == "model":
        return "',' || models || ',' LIKE ?", (f"%,{value},%",)
    column = {"label": "api_key", "key": "key_id", "team": "team_id"}.get(kind)
    return (f"{column} = ?", (value,)) if column else ("1 = 1", ())


def check_one(tx: Tx, check: Check, estimate_usd: float, exclude: str | None = None) -> str | None:
    """None if ``estimate_usd`` more fits under the limit, else why not. Spend and holds are
    read in one statement: one snapshot, so a settle cannot slip between the two."""
    where, args = held_where(check.scope)
    if exclude:
        where, args = f"{where} AND id <> ?", (*args, exclude)
    row = tx.one(
        "SELECT (SELECT COALESCE(SUM(usd), 0) FROM spend WHERE scope = ? AND period = ?) AS spent, "
        f"(SELECT COALESCE(SUM(amount_usd), 0) FROM reservations WHERE {where}) AS held",
        (check.scope, check.period, *args),
    )
    spent, held = (float(row["spent"]), float(row["held"])) if row else (0.0, 0.0)
    if spent + held + estimate_usd <= check.limit:
        return None
    return (
        f"{check.name} budget ${check.limit:.4f} would be exceeded: spent ${spent:.4f}, "
        f"in flight ${held:.4f}, this request up to ${estimate_usd:.4f}; no call was made"
    )


def lock_scopes(tx: Tx, scopes: Iterable[str]) -> float | None:
    """Serialise the check-and-hold of these scopes across processes (PostgreSQL; SQLite's
    write transaction already holds the file's lock). Sorted, so two requests never wait
    on each other in a cycle. Returns the database's clock once the locks are held
    (PostgreSQL), else None."""
    names = sorted(set(scopes))
    if tx.dialect != "postgresql" or not names:
        return None
    now = tx.scalar(
        "SELECT extract(epoch FROM clock_timestamp()) FROM (SELECT "
        "count(pg_advisory_xact_lock(hashtextextended(s, 7))) AS n FROM "
        "(SELECT unnest(?::text[]) AS s ORDER BY 1) AS ordered) AS locked",
        (names,),
    )
    return float(now)


def spent(tx: Tx, scope: str, period: str) -> float:
    """The running total of ``scope`` (all, model:M, key:ID, team:ID) in ``period``."""
    value = tx.scalar("SELECT usd FROM spend WHERE scope = ? AND period = ?", (scope, period))
    return float(value or 0.0)
