"""BudgetTracker: a spending ledger on SQLite, with limits enforced before any call.

A request first *reserves* its estimated cost in a write transaction that also
checks spend + open reservations + estimate against every limit that applies;
only then are models called. Afterwards it *settles*: the reservation goes and
the calls are recorded at their real cost. SQLite's write lock makes the check
and the reservation atomic across threads, processes and server workers, so
concurrent requests cannot overshoot a limit by more than one request's estimate.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BudgetExceededError, ConfigError
from ..models import StageRecord
from .db import SQLiteStore, data_dir

MIGRATIONS = [
    """
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, request_id TEXT, model TEXT NOT NULL,
        role TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL, ms REAL NOT NULL, api_key TEXT, user TEXT);
    CREATE INDEX calls_ts ON calls(ts);
    CREATE TABLE reservations (
        id TEXT PRIMARY KEY, ts REAL NOT NULL, expires REAL NOT NULL, models TEXT NOT NULL,
        api_key TEXT, amount_usd REAL NOT NULL)
    """,
]
_shared: dict[tuple[Path, str], BudgetTracker] = {}
_shared_lock = threading.Lock()
RESERVATION_TTL_S = 15 * 60  # a crashed process's reservation stops counting after this


def _month_start(now: float) -> float:
    d = datetime.fromtimestamp(now, UTC)
    return datetime(d.year, d.month, 1, tzinfo=UTC).timestamp()


def _day_start(now: float) -> float:
    d = datetime.fromtimestamp(now, UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


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


class BudgetTracker(SQLiteStore):
    FILENAME = "budget.db"
    MIGRATIONS = MIGRATIONS

    def __init__(self, path: str | Path | None = None, limits: Limits | None = None) -> None:
        super().__init__(path)
        self._limits = limits

    @property
    def limits(self) -> Limits:
        """The limits given, else the environment's as they are now."""
        return self._limits if self._limits is not None else Limits.from_env()

    @classmethod
    def shared(cls, limits: Limits | None = None) -> BudgetTracker:
        """One tracker (one connection) per database file, limits and process: engines are
        made per request, connections should not be."""
        path = data_dir() / "budget.db"
        key = (path, repr(limits))
        with _shared_lock:
            tracker = _shared.get(key)
            if tracker is None:
                tracker = _shared[key] = cls(path, limits)
            return tracker

    # --- reserve / settle -------------------------------------------------------------

    def reserve(
        self, models: Iterable[str], estimate_usd: float, api_key: str | None = None
    ) -> str:
        """Check every applicable limit and hold ``estimate_usd``; raises BudgetExceededError."""
        rid = uuid.uuid4().hex
        models = sorted(set(models))
        label = key_label(api_key)
        now = time.time()
        with self.transaction() as c:
            c.execute("DELETE FROM reservations WHERE expires < ?", (now,))
            for name, limit, since, where, args in self._checks(models, label, now):
                spent = c.execute(
                    f"SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE ts >= ? {where}",
                    (since, *args),
                ).fetchone()[0]
                held = self._held(c, name, models, label)
                if spent + held + estimate_usd > limit:
                    raise BudgetExceededError(
                        f"{name} budget ${limit:.4f} would be exceeded: spent ${spent:.4f}, "
                        f"in flight ${held:.4f}, this request up to ${estimate_usd:.4f}; no call was made"
                    )
            c.execute(
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?)",
                (rid, now, now + RESERVATION_TTL_S, ",".join(models), label, estimate_usd),
            )
        return rid

    def _checks(
        self, models: list[str], label: str | None, now: float
    ) -> list[tuple[str, float, float, str, tuple[Any, ...]]]:
        L = self.limits
        out: list[tuple[str, float, float, str, tuple[Any, ...]]] = []
        if L.monthly is not None:
            out.append(("monthly", L.monthly, _month_start(now), "", ()))
        if L.daily is not None:
            out.append(("daily", L.daily, _day_start(now), "", ()))
        for m in models:
            if m in L.per_model_monthly:
                out.append(
                    (
                        f"monthly {m}",
                        L.per_model_monthly[m],
                        _month_start(now),
                        "AND model = ?",
                        (m,),
                    )
                )
        if label:
            for key, limit in L.per_key_monthly.items():
                if key_label(key) == label:
                    out.append(
                        ("monthly per-key", limit, _month_start(now), "AND api_key = ?", (label,))
                    )
        return out

    @staticmethod
    def _held(c: sqlite3.Connection, name: str, models: list[str], label: str | None) -> float:
        if name.startswith("monthly ") and name != "monthly per-key":
            model = name.removeprefix("monthly ")
            rows = c.execute("SELECT models, amount_usd FROM reservations").fetchall()
            return sum(r["amount_usd"] for r in rows if model in r["models"].split(","))
        if name == "monthly per-key":
            return c.execute(
                "SELECT COALESCE(SUM(amount_usd), 0) FROM reservations WHERE api_key = ?", (label,)
            ).fetchone()[0]
        return c.execute("SELECT COALESCE(SUM(amount_usd), 0) FROM reservations").fetchone()[0]

    def settle(
        self,
        reservation: str | None,
        stages: list[StageRecord],
        *,
        request_id: str | None = None,
        api_key: str | None = None,
        user: str | None = None,
    ) -> None:
        """Record the calls that happened at their real cost, and drop the reservation."""
        now = time.time()
        label = key_label(api_key)
        with self.transaction() as c:
            if reservation:
                c.execute("DELETE FROM reservations WHERE id = ?", (reservation,))
            c.executemany(
                "INSERT INTO calls (ts, request_id, model, role, prompt_tokens, completion_tokens, cost_usd, ms, api_key, user) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        now,
                        request_id,
                        s.model,
                        s.role,
                        s.prompt_tokens,
                        s.completion_tokens,
                        s.cost_usd or 0.0,
                        s.ms,
                        label,
                        user,
                    )
                    for s in stages
                    if s.ok or s.prompt_tokens or s.completion_tokens
                ],
            )

    # --- reports ----------------------------------------------------------------------

    def month_report(self, now: float | None = None) -> dict[str, Any]:
        now = now or time.time()
        since = _month_start(now)
        rows = self.conn.execute(
            "SELECT model, role, COUNT(*) AS calls, SUM(prompt_tokens) AS prompt_tokens, "
            "SUM(completion_tokens) AS completion_tokens, SUM(cost_usd) AS cost_usd "
            "FROM calls WHERE ts >= ? GROUP BY model, role ORDER BY cost_usd DESC, model",
            (since,),
        ).fetchall()
        by_model = [dict(r) for r in rows]
        total = sum(r["cost_usd"] or 0 for r in by_model)
        today = self.conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE ts >= ?", (_day_start(now),)
        ).fetchone()[0]
        return {
            "month": datetime.fromtimestamp(now, UTC).strftime("%Y-%m"),
            "spent_usd": total,
            "spent_today_usd": today,
            "monthly_limit_usd": self.limits.monthly,
            "daily_limit_usd": self.limits.daily,
            "by_model": by_model,
        }

    def reset(self) -> int:
        with self._lock:
            n = self.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
            self.conn.execute("DELETE FROM calls")
            self.conn.execute("DELETE FROM reservations")
        return int(n)
