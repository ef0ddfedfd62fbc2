"""Virtual keys and teams: who may call, on which models, within which budget and rates.

A key is ``pk-<id>-<secret>``: the id (12 hex digits) is public and finds the key's
row; the secret (256 random bits) is never stored — only the SHA-256 of the whole
key, compared in constant time. A high-entropy secret needs no slow hash: there is
nothing to guess. The key is shown once, when it is made.

A team carries its own budget, rates and models; a key in a team is held to both.
Keys and teams live in the ledger's database, so every replica sees a revocation
at the next request.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .db import Tx
from .ledger import period_of, spent

if TYPE_CHECKING:
    from .base import Store

KEY_PREFIX = "pk-"
KEY_RE = re.compile(r"^pk-([0-9a-f]{12})-([A-Za-z0-9_-]{20,})$")
PERIODS = ("month", "day")
EDITABLE = ("name", "budget_usd", "budget_period", "rpm", "tpm", "models")
SENTINEL: Any = object()


@dataclass(frozen=True)
class Quota:
    """A key's or team's limits; None: none. ``models``: glob patterns (empty: any)."""

    budget_usd: float | None = None
    budget_period: str = "month"
    rpm: int | None = None
    tpm: int | None = None
    models: tuple[str, ...] = ()

    @classmethod
    def of(cls, row: dict[str, Any], prefix: str = "") -> Quota:
        raw = row.get(f"{prefix}models") or ""
        return cls(
            budget_usd=row.get(f"{prefix}budget_usd"),
            budget_period=row.get(f"{prefix}budget_period") or "month",
            rpm=row.get(f"{prefix}rpm"),
            tpm=row.get(f"{prefix}tpm"),
            models=tuple(m for m in raw.split(",") if m),
        )

    def limited(self) -> bool:
        return self.budget_usd is not None or self.rpm is not None or self.tpm is not None

    def allows(self, model: str) -> bool:
        """Any pattern matches the model, with or without its provider prefix."""
        if not self.models:
            return True
        bare = model.split("/", 1)[-1]
        return any(fnmatch.fnmatchcase(m, p) for p in self.models for m in (model, bare))


@dataclass(frozen=True)
class Principal:
    """Who a request is from: the master key, a static key (PRELLM_API_KEYS), a virtual key."""

    kind: str  # "master" | "static" | "virtual" | "anonymous"
    key_id: str | None = None
    name: str | None = None
    team_id: str | None = None
    team_name: str | None = None
    key: Quota = field(default_factory=Quota)
    team: Quota = field(default_factory=Quota)

    @property
    def admin(self) -> bool:
        return self.kind == "master"

    def scopes(self) -> list[tuple[str, str, Quota]]:
        """(who, ledger scope, quota) for the key and its team."""
        out = []
        if self.key_id:
            out.append((f"key {self.name!r}", f"key:{self.key_id}", self.key))
        if self.team_id:
            out.append((f"team {self.team_name!r}", f"team:{self.team_id}", self.team))
        return out

    def limited(self) -> bool:
        return self.key.limited() or self.team.limited()

    def refused_model(self, model: str) -> str | None:
        """Why this principal may not use ``model``, or None."""
        for who, _, quota in self.scopes():
            if not quota.allows(model):
                return f"{who} may use only {', '.join(quota.models)}"
        return None


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id_of(token: str) -> str | None:
    """The public id of a virtual key, None if ``token`` is not shaped like one."""
    m = KEY_RE.match(token)
    return m.group(1) if m else None


def parse_expiry(value: str | float | None) -> float | None:
    """``YYYY-MM-DD`` (end of that day, UTC), an ISO date-time, or epoch seconds."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            d = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return d.timestamp() + 86400 - 0.001
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()
    except ValueError:
        raise ConfigError(f"expires: {text!r} is not a date (YYYY-MM-DD) or ISO time") from None


def _validated(changes: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in changes.items() if v is not SENTINEL}
    if out.get("budget_period", "") is None:
        del out["budget_period"]  # not given: the default (or what is set) stays
    if "name" in out and not (isinstance(out["name"], str) and 0 < len(out["name"]) <= 100):
        raise ConfigError("name: 1 to 100 characters")
    if out.get("budget_usd") is not None and float(out["budget_usd"]) < 0:
        raise ConfigError("budget: must not be negative")
    if "budget_period" in out and out["budget_period"] not in PERIODS:
        raise ConfigError(f"budget period: one of {', '.join(PERIODS)}")
    for name in ("rpm", "tpm"):
        if out.get(name) is not None and int(out[name]) < 1:
            raise ConfigError(f"{name}: at least 1")
    if "models" in out:
        models = out["models"]
        items = models.split(",") if isinstance(models, str) else list(models or [])
        out["models"] = ",".join(m.strip() for m in items if m and m.strip())
    return out


class KeyRegistry:
    """Keys and teams in a ledger's database (``BudgetTracker.keys``)."""

    def __init__(self, tracker: Store) -> None:
        self.tracker = tracker

    # --- teams ------------------------------------------------------------------------

    def create_team(self, name: str, **quota: Any) -> dict[str, Any]:
        fields = _validated({"name": name, **quota})
        team_id = "t" + secrets.token_hex(6)
        now = time.time()
        with self.tracker.transaction() as tx:
            if tx.scalar("SELECT 1 FROM teams WHERE name = ?", (name,)):
                raise ConfigError(f"a team named {name!r} exists")
            cols = ["id", "created", "updated", *fields]
            tx.run(
                f"INSERT INTO teams ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                (team_id, now, now, *fields.values()),
            )
        return self.team(team_id) or {}

    def update_team(self, ref: str, **changes: Any) -> dict[str, Any]:
        team = self._team_row(ref)
        self._update("teams", team["id"], _validated(changes))
        return self.team(team["id"]) or {}

    def team(self, ref: str) -> dict[str, Any] | None:
        """A team by id or name, with its spend in its budget's current period."""
        with self.tracker.read() as tx:
            row = tx.one("SELECT * FROM teams WHERE id = ? OR name = ?", (ref, ref))
        return self._public(row, "team") if row else None

    def teams(self) -> list[dict[str, Any]]:
        with self.tracker.read() as tx:
            rows = tx.all("SELECT * FROM teams ORDER BY name")
        return [self._public(r, "team") for r in rows]

    def _team_row(self, ref: str) -> dict[str, Any]:
        with self.tracker.read() as tx:
            row = tx.one("SELECT * FROM teams WHERE id = ? OR name = ?", (ref, ref))
        if row is None:
            raise ConfigError(f"no team {ref!r}")
        return row

    # --- keys -------------------------------------------------------------------------

    def create_key(
        self, name: str, team: str | None = None, expires: str | float | None = None, **quota: Any
    ) -> tuple[str, dict[str, Any]]:
        """A new key: (the key, shown this once; its public record)."""
        fields = _validated({"name": name, **quota})
        team_id = self._team_row(team)["id"] if team else None
        key_id = secrets.token_hex(6)
        token = f"{KEY_PREFIX}{key_id}-{secrets.token_urlsafe(32)}"
        now = time.time()
        cols = ["id", "team_id", "hash", "expires", "created", "updated", *fields]
        values = (key_id, team_id, hash_key(token), parse_expiry(expires), now, now)
        with self.tracker.transaction() as tx:
            tx.run(
                f"INSERT INTO keys ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                (*values, *fields.values()),
            )
        return token, self.key(key_id) or {}

    def update_key(
        self, key_id: str, *, team: Any = SENTINEL, expires: Any = SENTINEL, **changes: Any
    ) -> dict[str, Any]:
        self._key_row(key_id)
        fields = _validated(changes)
        if team is not SENTINEL:
            fields["team_id"] = self._team_row(team)["id"] if team else None
        if expires is not SENTINEL:
            fields["expires"] = parse_expiry(expires)
        self._update("keys", key_id, fields)
        return self.key(key_id) or {}

    def revoke(self, key_id: str) -> dict[str, Any]:
        self._key_row(key_id)
        with self.tracker.transaction() as tx:
            tx.run(
                "UPDATE keys SET revoked = ?, updated = ? WHERE id = ? AND revoked IS NULL",
                (time.time(), time.time(), key_id),
            )
        return self.key(key_id) or {}

    def key(self, key_id: str) -> dict[str, Any] | None:
        with self.tracker.read() as tx:
            row = tx.one(_KEY_SELECT + " WHERE k.id = ?", (key_id,))
        return self._public(row, "key") if row else None

    def keys(self, team: str | None = None) -> list[dict[str, Any]]:
        team_id = self._team_row(team)["id"] if team else None
        where, args = (" WHERE k.team_id = ?", (team_id,)) if team_id else ("", ())
        with self.tracker.read() as tx:
            rows = tx.all(_KEY_SELECT + where + " ORDER BY k.created", args)
        return [self._public(r, "key") for r in rows]

    def _key_row(self, key_id: str) -> dict[str, Any]:
        with self.tracker.read() as tx:
            row = tx.one("SELECT id FROM keys WHERE id = ?", (key_id,))
        if row is None:
            raise ConfigError(f"no key {key_id!r}")
        return row

    def _update(self, table: str, row_id: str, fields: dict[str, Any]) -> None:
        if not fields:
            return
        sets = ", ".join(f"{c} = ?" for c in fields)
        with self.tracker.transaction() as tx:
            if "name" in fields and table == "teams":
                taken = tx.scalar(
                    "SELECT 1 FROM teams WHERE name = ? AND id <> ?", (fields["name"], row_id)
                )
                if taken:
                    raise ConfigError(f"a team named {fields['name']!r} exists")
            tx.run(
                f"UPDATE {table} SET {sets}, updated = ? WHERE id = ?",
                (*fields.values(), time.time(), row_id),
            )

    def _public(self, row: dict[str, Any], kind: str) -> dict[str, Any]:
        """What may be shown: never the hash; with status and spend in the budget's period."""
        out = {k: v for k, v in row.items() if k != "hash"}
        out["models"] = [m for m in (row.get("models") or "").split(",") if m]
        now = time.time()
        period = period_of(row.get("budget_period") or "month", now)
        with self.tracker.read() as tx:
            out["spent_usd"] = spent(tx, f"{kind}:{row['id']}", period)
        if kind == "key":
            status = "active"
            if row.get("revoked"):
                status = "revoked"
            elif row.get("expires") and row["expires"] <= now:
                status = "expired"
            out["status"] = status
        return out

    # --- authentication ---------------------------------------------------------------

    def any_keys(self) -> bool:
        with self.tracker.read() as tx:
            return tx.scalar("SELECT 1 FROM keys LIMIT 1") is not None

    def authenticate(self, token: str) -> tuple[Principal | None, str]:
        """(the key's principal, "") or (None, why not): one indexed read."""
        key_id = key_id_of(token)
        if key_id is None:
            return None, "invalid API key"
        with self.tracker.read() as tx:
            row = _auth_row(tx, key_id)
        # Compare even when no row matched, so timing does not tell which ids exist.
        expected = row["hash"] if row else hash_key("pk-000000000000-" + "x" * 43)
        if not hmac.compare_digest(hash_key(token), expected) or row is None:
            return None, "invalid API key"
        if row["revoked"]:
            return None, "API key revoked"
        if row["expires"] is not None and row["expires"] <= time.time():
            return None, "API key expired"
        return principal_of(row), ""

    def spend(self, period: str = "month") -> dict[str, Any]:
        """Spend of every team and key in the current ``period`` (month or day)."""
        if period not in PERIODS:
            raise ConfigError(f"period: one of {', '.join(PERIODS)}")
        p = period_of(period, time.time())
        with self.tracker.read() as tx:
            rows = tx.all("SELECT scope, usd FROM spend WHERE period = ?", (p,))
        by_scope = {r["scope"]: float(r["usd"]) for r in rows}
        teams = [
            {"id": t["id"], "name": t["name"], "budget_usd": t["budget_usd"]}
            | {"spent_usd": by_scope.get(f"team:{t['id']}", 0.0)}
            for t in self.teams()
        ]
        keys = [
            {"id": k["id"], "name": k["name"], "team_id": k["team_id"]}
            | {"budget_usd": k["budget_usd"], "spent_usd": by_scope.get(f"key:{k['id']}", 0.0)}
            for k in self.keys()
        ]
        total = by_scope.get("all", 0.0)
        return {"period": p[1:], "spent_usd": total, "teams": teams, "keys": keys}


_KEY_SELECT = "SELECT k.*, t.name AS team_name FROM keys k LEFT JOIN teams t ON t.id = k.team_id"


def _auth_row(tx: Tx, key_id: str) -> dict[str, Any] | None:
    return tx.one(
        "SELECT k.id, k.name, k.hash, k.team_id, k.budget_usd, k.budget_period, k.rpm, k.tpm, "
        "k.models, k.expires, k.revoked, t.name AS t_name, t.budget_usd AS t_budget_usd, "
        "t.budget_period AS t_budget_period, t.rpm AS t_rpm, t.tpm AS t_tpm, t.models AS t_models "
        "FROM keys k LEFT JOIN teams t ON t.id = k.team_id WHERE k.id = ?",
        (key_id,),
    )


def principal_of(row: dict[str, Any]) -> Principal:
    return Principal(
        kind="virtual",
        key_id=row["id"],
        name=row["name"],
        team_id=row["team_id"],
        team_name=row.get("t_name"),
        key=Quota.of(row),
        team=Quota.of(row, "t_") if row["team_id"] else Quota(),
    )
