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
from .ledger import RESERVATION_TTL_S, Check, Reservation, Snapshot, period_of, snapshot

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


def over(w: Window, requests: int, used: int, tokens: int) -> bool:
    """Whether one more request of ``tokens`` would break ``w``."""
    return (w.rpm is not None and requests + 1 > w.rpm) or (
        w.tpm is not None and used + tokens > w.tpm
    )


def refuse_window(tx: Tx, w: Window, tokens: int, now: float) -> RateLimitedError:
    """The refusal, saying when enough of the window's events will have left it (read now,
    under the window's lock: only a refused request pays for reading the events)."""
    rows = tx.all(
        "SELECT ts, tokens FROM rate_events WHERE scope = ? AND ts > ? ORDER BY ts",
        (w.scope, now - WINDOW_S),
    )
    events = [(float(r["ts"]), int(r["tokens"])) for r in rows]
    if w.rpm is not None and len(events) + 1 > w.rpm:
        wait = events[len(events) - w.rpm][0] + WINDOW_S - now if w.rpm else WINDOW_S
        return RateLimitedError(
            f"{w.name}: {w.rpm} requests per minute reached; retry in {wait:.1f} s", wait
        )
    tpm = w.tpm or 0
    used = sum(n for _, n in events)
    if tokens > tpm:
        return RateLimitedError(
            f"{w.name}: this request (~{tokens} tokens with its answer) is over the "
            f"{tpm} tokens per minute limit; ask for fewer max_tokens",
            WINDOW_S,
        )
    wait, left = WINDOW_S, used
    for ts, n in events:  # the oldest leave the window first
        left -= n
        if left + tokens <= tpm:
            wait = ts + WINDOW_S - now
            break
    return RateLimitedError(
        f"{w.name}: {tpm} tokens per minute reached ({used} in the last minute, this "
        f"request ~{tokens}); retry in {wait:.1f} s",
        wait,
    )


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
    scopes = [w.scope for w in wins]
    with tracker.transaction(locks=[c.scope for c in checks] + scopes) as tx:
        snap = snapshot(tx, checks, scopes, window_s=WINDOW_S, now=now, exclude=reservation)
        refusal = _refusal(tx, snap, checks, wins, estimate_usd, tokens)
        if refusal is not None:
            if reservation:  # the global hold goes with the refused request
                tx.later("DELETE FROM reservations WHERE id = ?", (reservation,))
        else:
            _hold(tx, rid, p, models, estimate_usd, reservation)
            tx.many(
                "INSERT INTO rate_events (scope, ts, tokens, reservation) VALUES (?, ?, ?, ?)",
                [(w.scope, snap.now, tokens, rid) for w in wins],
            )
        for scope in scopes:  # what left the window is not needed any more
            tx.later(
                "DELETE FROM rate_events WHERE scope = ? AND ts <= ?", (scope, snap.now - WINDOW_S)
            )
        tx.later("DELETE FROM reservations WHERE expires < ?", (time.time(),))
    if refusal is not None:
        raise refusal
    return Reservation(rid, p.key_id, p.team_id, rated=bool(wins))


def _refusal(
    tx: Tx,
    snap: Snapshot,
    checks: list[Check],
    wins: list[Window],
    estimate_usd: float,
    tokens: int,
) -> Exception | None:
    if why := snap.refusal(checks, estimate_usd):
        return BudgetExceededError(why)
    for w in wins:
        if over(w, *snap.windows[w.scope], tokens):
            return refuse_window(tx, w, tokens, snap.now)
    return None


def _hold(tx: Tx, rid: str, p: Principal, models: list[str], amount: float, existing: Any) -> None:
    if existing:
        tx.later(
            "UPDATE reservations SET key_id = ?, team_id = ? WHERE id = ?",
            (p.key_id, p.team_id, rid),
        )
        return
    now = time.time()
    tx.later(
        "INSERT INTO reservations (id, ts, expires, models, api_key, amount_usd, key_id, team_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (rid, now, now + RESERVATION_TTL_S, ",".join(sorted(set(models))), None, amount)
        + (p.key_id, p.team_id),
    )
