"""BudgetTracker: the spending ledger, with limits enforced before any call.

A request first *reserves* its estimated cost in a transaction that checks spend +
open reservations + estimate against every limit that applies; only then are
models called. Afterwards it *settles*: the reservation goes and the calls are
recorded at their real cost, with running totals per scope (everything, a model,
a key, a team) and period (UTC month and day) so a check reads a few rows, not
the month's calls. On SQLite the file's write lock makes check and hold atomic;
on PostgreSQL each limit's scope is an advisory transaction lock, taken in a fixed
order, so concurrent requests in any number of processes cannot overshoot a
limit by more than one request's estimate. A check-and-hold is two round trips
(BEGIN + locks + one snapshot statement; the writes + COMMIT), a settle one.

Virtual keys and teams (``keys.py``) live in the same database; their budgets and
rate windows (``ratelimit.py``) are checked by ``admit_principal``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BudgetExceededError, ConfigError
from ..models import StageRecord
from .base import Store
from .db import Migration, Tx
from .ledger import (
    RESERVATION_TTL_S,
    Check,
    Reservation,
    day_start,
    month_start,
    periods,
    snapshot,
)
from .ledger import spent as spent_in


def _backfill_spend(tx: Tx) -> None:
    """Running totals for this month and day from the calls already recorded."""
    now = time.time()
    rows = tx.all(
        "SELECT ts, model, api_key, cost_usd FROM calls WHERE ts >= ? AND cost_usd > 0",
        (month_start(now),),
    )
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        scopes = ["all", f"model:{r['model']}"] + (
            [f"label:{r['api_key']}"] if r["api_key"] else []
        )
        for scope in scopes:
            for period in periods(r["ts"]):
                totals[(scope, period)] += r["cost_usd"]
    tx.many(
        "INSERT INTO spend (scope, period, usd) VALUES (?, ?, ?)",
        [(s, p, usd) for (s, p), usd in totals.items()],
    )


MIGRATIONS = [
    Migration(
        "budget-1-ledger",
        """
        CREATE TABLE calls (
            id {ID}, ts {REAL} NOT NULL, request_id TEXT, model TEXT NOT NULL,
            role TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
            cost_usd {REAL} NOT NULL, ms {REAL} NOT NULL, api_key TEXT, "user" TEXT);
        CREATE INDEX calls_ts ON calls(ts);
        CREATE TABLE reservations (
            id TEXT PRIMARY KEY, ts {REAL} NOT NULL, expires {REAL} NOT NULL, models TEXT NOT NULL,
            api_key TEXT, amount_usd {REAL} NOT NULL)
        """,
    ),
    Migration(
        "budget-2-teams-keys-limits",
        """
        CREATE TABLE teams (
            id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, budget_usd {REAL},
            budget_period TEXT NOT NULL DEFAULT 'month', rpm INTEGER, tpm {BIGINT},
            models TEXT NOT NULL DEFAULT '', created {REAL} NOT NULL, updated {REAL} NOT NULL);
        CREATE TABLE keys (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, team_id TEXT REFERENCES teams(id),
            hash TEXT NOT NULL, budget_usd {REAL}, budget_period TEXT NOT NULL DEFAULT 'month',
            rpm INTEGER, tpm {BIGINT}, models TEXT NOT NULL DEFAULT '', expires {REAL},
            revoked {REAL}, created {REAL} NOT NULL, updated {REAL} NOT NULL);
        ALTER TABLE calls ADD COLUMN key_id TEXT;
        ALTER TABLE calls ADD COLUMN team_id TEXT;
        CREATE INDEX calls_key ON calls(key_id, ts);
        CREATE INDEX calls_team ON calls(team_id, ts);
        ALTER TABLE reservations ADD COLUMN key_id TEXT;
        ALTER TABLE reservations ADD COLUMN team_id TEXT;
        CREATE TABLE spend (
            scope TEXT NOT NULL, period TEXT NOT NULL, usd {REAL} NOT NULL,
            PRIMARY KEY (scope, period));
        CREATE TABLE rate_events (
            id {ID}, scope TEXT NOT NULL, ts {REAL} NOT NULL, tokens {BIGINT} NOT NULL,
            reservation TEXT);
        CREATE INDEX rate_events_scope ON rate_events(scope, ts);
        CREATE INDEX rate_events_reservation ON rate_events(reservation)
        """,
    ),
    Migration("budget-3-spend-totals", _backfill_spend),
]
_shared: dict[tuple[str, str, str], BudgetTracker] = {}
_shared_lock = threading.Lock()


@dataclass
class Limits:
    """Spending limits in USD; None means no limit. Months and days are UTC."""

    monthly: float | None = None
    daily: float | None = None
    per_model_monthly: dict[str, float] = field(default_factory=dict)
    per_key_monthly: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Limits:
        def num(name: str) -> float | None:
            raw = os.environ.get(name)
            if raw in (None, ""):
                return None
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number of USD") from None
            if value < 0:
                raise ConfigError(f"{name} must not be negative")
            return value

        return cls(monthly=num("PRELLM_MONTHLY_BUDGET"), daily=num("PRELLM_DAILY_BUDGET"))

    def any(self) -> bool:
        return bool(
            self.monthly is not None
            or self.daily is not None
            or self.per_model_monthly
            or self.per_key_monthly
        )


def key_label(api_key: str | None) -> str | None:
    """A stable, non-secret label for an API key: never store the key itself."""
    if not api_key:
        return None
    import hashlib

    return "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


class BudgetTracker(Store):
    NAME = "budget"
    FILENAME = "budget.db"
    MIGRATIONS = MIGRATIONS

    def __init__(
        self,
        path: str | Path | None = None,
        limits: Limits | None = None,
        *,
        url: str | None = None,
    ) -> None:
        super().__init__(path, url=url)
        self._limits = limits

    @property
    def limits(self) -> Limits:
        """The limits given, else the environment's as they are now."""
        return self._limits if self._limits is not None else Limits.from_env()

    @classmethod
    def shared(cls, limits: Limits | None = None) -> BudgetTracker:
        """One tracker (one connection or pool) per database, limits and process: engines
        are made per request, connections should not be."""
        probe = cls(None, limits)
        key = (probe.dialect, probe.where, repr(limits))
        with _shared_lock:
            tracker = _shared.get(key)
            if tracker is None:
                tracker = _shared[key] = probe
            return tracker

    @property
    def keys(self) -> Any:
        """Virtual keys and teams in this ledger's database (a ``KeyRegistry``)."""
        from .keys import KeyRegistry

        return KeyRegistry(self)

    # --- reserve / settle -------------------------------------------------------------

    def reserve(
        self, models: Iterable[str], estimate_usd: float, api_key: str | None = None
    ) -> str:
        """Check every applicable limit and hold ``estimate_usd``; raises BudgetExceededError."""
        rid = uuid.uuid4().hex
        models = sorted(set(models))
        label = key_label(api_key)
        now = time.time()
        checks = self._checks(models, label, now)
        with self.transaction(locks=[c.scope for c in checks]) as tx:
            if refusal := snapshot(tx, checks).refusal(checks, estimate_usd):
                raise BudgetExceededError(refusal)
            tx.later("DELETE FROM reservations WHERE expires < ?", (now,))
            tx.later(
                "INSERT INTO reservations (id, ts, expires, models, api_key, amount_usd) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (rid, now, now + RESERVATION_TTL_S, ",".join(models), label, estimate_usd),
            )
        return rid

    def _checks(self, models: list[str], label: str | None, now: float) -> list[Check]:
        L = self.limits
        month, day = periods(now)
        out: list[Check] = []
        if L.monthly is not None:
            out.append(Check("monthly", L.monthly, "all", month))
        if L.daily is not None:
            out.append(Check("daily", L.daily, "all", day))
        for m in models:
            if m in L.per_model_monthly:
                out.append(Check(f"monthly {m}", L.per_model_monthly[m], f"model:{m}", month))
        if label:
            for key, limit in L.per_key_monthly.items():
                if key_label(key) == label:
                    out.append(Check("monthly per-key", limit, f"label:{label}", month))
        return out

    def admit_principal(
        self,
        principal: Any,
        models: Sequence[str],
        estimate_usd: float,
        tokens: int,
        *,
        reservation: str | None = None,
        now: float | None = None,
    ) -> Reservation:
        """Check a virtual key's and its team's budgets and rate windows, and hold the request
        against them, atomically (``ratelimit.admit``). ``reservation``: the request's hold on
        the global limits, taken over here (and released if this refuses)."""
        from .ratelimit import admit

        return admit(self, principal, list(models), estimate_usd, tokens, reservation, now)

    def release(self, reservation: str | Reservation | None) -> None:
        """Drop a hold without recording anything (a request refused after reserving)."""
        rid = reservation.id if isinstance(reservation, Reservation) else reservation
        if rid:
            with self.transaction() as tx:
                tx.later("DELETE FROM reservations WHERE id = ?", (rid,))
                tx.later("DELETE FROM rate_events WHERE reservation = ?", (rid,))

    def settle(
        self,
        reservation: str | Reservation | None,
        stages: list[StageRecord],
        *,
        request_id: str | None = None,
        api_key: str | None = None,
        user: str | None = None,
    ) -> None:
        """Record the calls that happened at their real cost, and drop the reservation.
        Writes only, sent together on PostgreSQL: one round trip."""
        now = time.time()
        label = key_label(api_key)
        res = reservation if isinstance(reservation, Reservation) else None
        rid = res.id if res else reservation
        key_id, team_id = (res.key_id, res.team_id) if res else (None, None)
        ran = [s for s in stages if s.ok or s.prompt_tokens or s.completion_tokens]
        calls = [
            (now, request_id, s.model, s.role, s.prompt_tokens, s.completion_tokens)
            + (s.cost_usd or 0.0, s.ms, label, user, key_id, team_id)
            for s in ran
        ]
        totals: dict[tuple[str, str], float] = defaultdict(float)
        who = [f"{kind}:{v}" for kind, v in (("label", label), ("key", key_id), ("team", team_id))]
        for s in ran:
            if s.cost_usd:
                for scope in ["all", f"model:{s.model}", *(w for w in who if w[-5:] != ":None")]:
                    for period in periods(now):
                        totals[(scope, period)] += s.cost_usd
        tokens = sum(s.prompt_tokens + s.completion_tokens for s in ran)
        with self.transaction() as tx:  # writes only: one round trip on PostgreSQL
            if rid:
                tx.later("DELETE FROM reservations WHERE id = ?", (rid,))
            tx.many(
                'INSERT INTO calls (ts, request_id, model, role, prompt_tokens, completion_tokens, cost_usd, ms, api_key, "user", key_id, team_id) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                calls,
            )
            tx.many(
                "INSERT INTO spend (scope, period, usd) VALUES (?, ?, ?) ON CONFLICT (scope, period) "
                "DO UPDATE SET usd = spend.usd + excluded.usd",
                [(s, p, usd) for (s, p), usd in sorted(totals.items())],
            )
            if res and res.rated:
                tx.later("UPDATE rate_events SET tokens = ? WHERE reservation = ?", (tokens, rid))

    # --- reports ----------------------------------------------------------------------

    def month_report(self, now: float | None = None) -> dict[str, Any]:
        now = now or time.time()
        month, day = periods(now)
        with self.read() as tx:
            by_model = tx.all(
                "SELECT model, role, COUNT(*) AS calls, SUM(prompt_tokens) AS prompt_tokens, "
                "SUM(completion_tokens) AS completion_tokens, SUM(cost_usd) AS cost_usd "
                "FROM calls WHERE ts >= ? GROUP BY model, role ORDER BY cost_usd DESC, model",
                (month_start(now),),
            )
            today = tx.scalar(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE ts >= ?", (day_start(now),)
            )
        for r in by_model:
            for k in ("calls", "prompt_tokens", "completion_tokens"):
                r[k] = int(r[k] or 0)
            r["cost_usd"] = float(r["cost_usd"] or 0)
        total = sum(r["cost_usd"] for r in by_model)
        return {
            "month": datetime.fromtimestamp(now, UTC).strftime("%Y-%m"),
            "spent_usd": total,
            "spent_today_usd": float(today or 0),
            "monthly_limit_usd": self.limits.monthly,
            "daily_limit_usd": self.limits.daily,
            "by_model": by_model,
        }

    def spent(self, scope: str, period: str) -> float:
        """The running total of ``scope`` (all, model:M, key:ID, team:ID) in ``period``."""
        with self.read() as tx:
            return spent_in(tx, scope, period)

    def reset(self) -> int:
        with self.transaction() as tx:
            n = int(tx.scalar("SELECT COUNT(*) FROM calls") or 0)
            for table in ("calls", "reservations", "spend", "rate_events"):
                tx.run(f"DELETE FROM {table}")
        return n
