"""The admin API: virtual keys, teams and spend, for the master key only.

    GET/POST /admin/keys · GET/PATCH /admin/keys/{id} · POST /admin/keys/{id}/revoke
    GET/POST /admin/teams · GET/PATCH /admin/teams/{id} · GET /admin/spend?period=month|day

A new key is in the POST's answer (``key``) and nowhere else, ever. Key, team and
store refusals anywhere in the app answer in OpenAI's error shape (``install_errors``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from .auth import install_errors, require_master
from .errors import HTTPError


class Quota(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget_usd: float | None = Field(None, ge=0)
    budget_period: Literal["month", "day"] | None = None
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    models: list[str] | None = None


class TeamIn(Quota):
    name: str = Field(min_length=1, max_length=100)


class TeamPatch(Quota):
    name: str | None = Field(None, min_length=1, max_length=100)


class KeyIn(Quota):
    name: str = Field(min_length=1, max_length=100)
    team: str | None = None
    expires: str | float | None = None


class KeyPatch(Quota):
    name: str | None = Field(None, min_length=1, max_length=100)
    team: str | None = None
    expires: str | float | None = None


def _registry() -> Any:
    from ..store import BudgetTracker

    return BudgetTracker.shared().keys


def _changes(body: BaseModel) -> dict[str, Any]:
    """The fields the caller sent (an explicit null clears a limit)."""
    return {k: getattr(body, k) for k in body.model_fields_set}


def _found(row: dict[str, Any] | None, what: str, ref: str) -> dict[str, Any]:
    if row is None:
        raise HTTPError(404, f"no {what} {ref!r}", code="not_found")
    return row


def router() -> APIRouter:
    r = APIRouter(prefix="/admin", dependencies=[Depends(require_master)])

    @r.get("/keys")
    def list_keys(team: str | None = None) -> dict[str, Any]:
        return {"object": "list", "data": _registry().keys(team)}

    @r.post("/keys", status_code=201)
    def create_key(body: KeyIn) -> dict[str, Any]:
        changes = _changes(body)
        name = changes.pop("name")
        token, record = _registry().create_key(name, **changes)
        return {"key": token, **record}

    @r.get("/keys/{key_id}")
    def get_key(key_id: str) -> dict[str, Any]:
        return _found(_registry().key(key_id), "key", key_id)

    @r.patch("/keys/{key_id}")
    def update_key(key_id: str, body: KeyPatch) -> dict[str, Any]:
        registry = _registry()
        _found(registry.key(key_id), "key", key_id)
        return dict(registry.update_key(key_id, **_changes(body)))

    @r.post("/keys/{key_id}/revoke")
    def revoke_key(key_id: str) -> dict[str, Any]:
        registry = _registry()
        _found(registry.key(key_id), "key", key_id)
        return dict(registry.revoke(key_id))

    @r.get("/teams")
    def list_teams() -> dict[str, Any]:
        return {"object": "list", "data": _registry().teams()}

    @r.post("/teams", status_code=201)
    def create_team(body: TeamIn) -> dict[str, Any]:
        changes = _changes(body)
        return dict(_registry().create_team(changes.pop("name"), **changes))

    @r.get("/teams/{team}")
    def get_team(team: str) -> dict[str, Any]:
        return _found(_registry().team(team), "team", team)

    @r.patch("/teams/{team}")
    def update_team(team: str, body: TeamPatch) -> dict[str, Any]:
        registry = _registry()
        _found(registry.team(team), "team", team)
        return dict(registry.update_team(team, **_changes(body)))

    @r.get("/spend")
    def spend(period: Literal["month", "day"] = "month") -> dict[str, Any]:
        return dict(_registry().spend(period))

    return r


def install_admin(app: FastAPI) -> None:
    """The admin API (master key only), and key/team/store refusals as HTTP answers."""
    install_errors(app)
    app.include_router(router(), include_in_schema=False)


async def check_store() -> dict[str, Any]:
    """Readiness: the state store answers (a PostgreSQL that went away makes this 503)."""
    import asyncio

    from ..errors import PreLLMError
    from ..store import BudgetTracker

    if os.environ.get("PRELLM_NO_LEDGER"):
        return {"store": "none", "ok": True, "detail": "PRELLM_NO_LEDGER: no state store"}
    tracker = BudgetTracker.shared()
    try:
        version = await asyncio.to_thread(lambda: tracker.schema_version)
    except PreLLMError as exc:
        return {"store": tracker.dialect, "ok": False, "detail": str(exc)}
    return {"store": tracker.dialect, "ok": True, "detail": f"{tracker.where} (schema v{version})"}
