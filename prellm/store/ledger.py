"""The ledger's building blocks: periods, scopes, holds, and the limit check itself."""

from __future__ import annotations

import time
from collections.abc import Sequence
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


@dataclass
class Snapshot:
    """What the limits of a request's scopes stand at, read in one statement (one snapshot:
    a settle cannot slip between reading the spend and reading the holds)."""

    now: float  # the database's clock on PostgreSQL once the locks are held, else given
    budgets: list[tuple[float, float]]  # (spent, held) per Check, in order
    windows: dict[str, tuple[int, int]]  # rate window scope -> (requests, tokens) in it

    def refusal(self, checks: list[Check], estimate_usd: float) -> str | None:
        """Why ``estimate_usd`` more does not fit under a limit, or None."""
        for check, (spent, held) in zip(checks, self.budgets, strict=True):
            if spent + held + estimate_usd > check.limit:
                return (
                    f"{check.name} budget ${check.limit:.4f} would be exceeded: spent "
                    f"${spent:.4f}, in flight ${held:.4f}, this request up to "
                    f"${estimate_usd:.4f}; no call was made"
                )
        return None


def snapshot(
    tx: Tx,
    checks: list[Check],
    windows: Sequence[str] = (),
    *,
    window_s: float = 60.0,
    now: float | None = None,
    exclude: str | None = None,
) -> Snapshot:
    """Spend and holds of every check, and requests and tokens in every rate window, at once."""
    held_now = time.time()
    clock_args: tuple[float, ...] = ()
    if now is None and tx.dialect == "postgresql":
        clock = "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)"
    else:
        clock, clock_args = "CAST(? AS DOUBLE PRECISION)", (now if now is not None else held_now,)
    parts = [f"SELECT 'c' AS kind, 0 AS idx, {clock} AS a, CAST(0 AS DOUBLE PRECISION) AS b"]
    args: list[Any] = [*clock_args]
    for i, check in enumerate(checks):
        where, extra = held_where(check.scope)
        where += " AND expires >= ?" + (" AND id <> ?" if exclude else "")
        parts.append(
            f"SELECT 'b', {i}, CAST((SELECT COALESCE(SUM(usd), 0) FROM spend WHERE scope = ? "
            "AND period = ?) AS DOUBLE PRECISION), CAST((SELECT COALESCE(SUM(amount_usd), 0) "
            f"FROM reservations WHERE {where}) AS DOUBLE PRECISION)"
        )
        args += [check.scope, check.period, *extra, held_now, *([exclude] if exclude else [])]
    for i, scope in enumerate(windows):
        parts.append(
            f"SELECT 'w', {i}, CAST(COUNT(*) AS DOUBLE PRECISION), "
            "CAST(COALESCE(SUM(tokens), 0) AS DOUBLE PRECISION) "
            f"FROM rate_events WHERE scope = ? AND ts > {clock} - ?"
        )
        args += [scope, *clock_args, window_s]
    rows = tx.all(" UNION ALL ".join(parts), args)
    out = Snapshot(
        now=0.0, budgets=[(0.0, 0.0)] * len(checks), windows={w: (0, 0) for w in windows}
    )
    for r in rows:
        kind, idx, a, b = r["kind"], int(r["idx"]), float(r["a"]), float(r["b"])
        if kind == "c":
            out.now = a
        elif kind == "b":
            out.budgets[idx] = (a, b)
        else:
            out.windows[windows[idx]] = (int(a), int(b))
    return out


def spent(tx: Tx, scope: str, period: str) -> float:
    """The running total of ``scope`` (all, model:M, key:ID, team:ID) in ``period``."""
    value = tx.scalar("SELECT usd FROM spend WHERE scope = ? AND period = ?", (scope, period))
    return float(value or 0.0)
