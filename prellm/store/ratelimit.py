"""A virtual key's admission: its and its team's budgets and rate windows, in one transaction.

Rate limits are a **sliding window log**: each admitted request writes one event
(scope, time, tokens) per rate-limited scope; a request is admitted when, counting
it, the scope's events in the last 60 seconds number at most ``rpm`` and their
tokens sum to at most ``tpm``. Exact — no request is let through because a fixed
window just rolled over — and, as the check and the write happen under the
scope's lock in one transaction, exact across processes and replicas. Tokens are
the request's estimate (prompt + reserved answer) on admission, replaced by the
real usage when it settles. A refusal says when the oldest event that blocks it
leaves the window (``Retry-After``). On PostgreSQL the window is measured on the
database's clock, so replicas with skewed clocks still share one window.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BudgetExceededError
from .db import Tx
from .errors import RateLimitedError
from .ledger import RESERVATION_TTL_S, Check, Reservation, check_one, lock_scopes, period_of

if TYPE_CHECKING:
    from .base import Store
    from .keys import Principal

WINDOW_S = 60.0


@dataclass(frozen=True)
class Window:
    name: str  # for messages: "key 'ci'", "team 'ml'"
    scope: str  # key:<id>, team:<id>
    rpm: int | None
    tpm: int | None


def budget_checks(p: Principal, now: float) -> list[Check]:
    out = []
    for who, scope, quota in p.scopes():
        if quota.budget_usd is not None:
            period = quota.budget_period
            name = f"{who} {'daily' if period == 'day' else 'monthly'}"
            out.append(Check(name, quota.budget_usd, scope, period_of(period, now)))
    return out


def windows(p: Principal) -> list[Window]:
    return [
        Window(who, scope, q.rpm, q.tpm)
        for who, scope, q in p.scopes()
        if q.rpm is not None or q.tpm is not None
    ]


def check_window(tx: Tx, w: Window, tokens: int, now: float) -> RateLimitedError | None:
    """None if one more request of ``tokens`` fits ``w`` at ``now``, else the refusal."""
    since = now - WINDOW_S
    tx.run("DELETE FROM rate_events WHERE scope = ? AND ts <= ?", (w.scope, since))
    rows = tx.all(
        "SELECT ts, tokens FROM rate_events WHERE scope = ? AND ts > ? ORDER BY ts",
        (w.scope, since),
    )
    if w.rpm is not None and len(rows) + 1 > w.rpm:
        wait = float(rows[len(rows) - w.rpm]["ts"]) + WINDOW_S - now if w.rpm else WINDOW_S
        return RateLimitedError(
            f"{w.name}: {w.rpm} requests per minute reached; retry in {wait:.1f} s", wait
        )
    if w.tpm is not None:
        used = sum(int(r["tokens"]) for r in rows)
        if tokens > w.tpm:
            return RateLimitedError(
                f"{w.name}: this request (~{tokens} tokens with its answer) is over the "
                f"{w.tpm} tokens per minute limit; ask for fewer max_tokens",
                WINDOW_S,
            )
        if used + tokens > w.tpm:
            wait, left = WINDOW_S, used
            for r in rows:  # the oldest events leave the window first
                left -= int(r["tokens"])
                if left + tokens <= w.tpm:
                    wait = float(r["ts"]) + WINDOW_S - now
                    break
            return RateLimitedError(
                f"{w.name}: {w.tpm} tokens per minute reached ({used} in the last minute, "
                f"this request ~{tokens}); retry in {wait:.1f} s",
                wait,
            )
    return None


def admit(
    tracker: Store,
    p: Principal,
    models: list[str],
    estimate_usd: float,
    tokens: int,
    reservation: str | None,
    now: float | None,
) -> Reservation:
    checks, wins = budget_checks(p, now or time.time()), windows(p)
    if not checks and not wins:
        # Nothing to hold: the reservation only carries whom the spend is attributed to.
        return Reservation(reservation or uuid.uuid4().hex, p.key_id, p.team_id)
    rid = reservation or uuid.uuid4().hex
    refusal: Exception | None = None
    with tracker.transaction() as tx:
        clock = lock_scopes(tx, [c.scope for c in checks] + [w.scope for w in wins])
        t = now or clock or time.time()
        tx.run("DELETE FROM reservations WHERE expires < ?", (time.time(),))
        refusal = _refusal(tx, checks, wins, estimate_usd, tokens, t, reservation)
        if refusal is not None:
            if reservation:  # the global hold goes with the refused request
                tx.run("DELETE FROM reservations WHERE id = ?", (reservation,))
        else:
            _hold(tx, rid, p, models, estimate_usd, reservation)
            tx.many(
                "INSERT INTO rate_events (scope, ts, tokens, reservation) VALUES (?, ?, ?, ?)",
                [(w.scope, t, tokens, rid) for w in wins],
            )
    if refusal is not None:
        raise refusal
    return Reservation(rid, p.key_id, p.team_id, rated=bool(wins))


def _refusal(
    tx: Tx,
    checks: list[Check],
    wins: list[Window],
    estimate_usd: float,
    tokens: int,
    now: float,
    exclude: str | None,
) -> Exception | None:
    for check in checks:
        if why := check_one(tx, check, estimate_usd, exclude=exclude):
            return BudgetExceededError(why)
    for w in wins:
        if refused := check_window(tx, w, tokens, now):
            return refused
    return None


def _hold(tx: Tx, rid: str, p: Principal, models: list[str], amount: float, existing: Any) -> None:
    if existing:
        tx.run(
            "UPDATE reservations SET key_id = ?, team_id = ? WHERE id = ?",
            (p.key_id, p.team_id, rid),
        )
        return
    now = time.time()
    tx.run(
        "INSERT INTO reservations (id, ts, expires, models, api_key, amount_usd, key_id, team_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (rid, now, now + RESERVATION_TTL_S, ",".join(sorted(set(models))), None, amount)
        + (p.key_id, p.team_id),
    )
