"""Who is calling: the master key, a static key (PRELLM_API_KEYS), or a virtual key.

The guard asks ``Authenticator.check`` for every request but liveness. Static and
master keys are compared in constant time against every configured key; a virtual
key (``pk-<id>-<secret>``) is found by its public id and its SHA-256 compared in
constant time — one indexed read, so a revocation counts at the next request on
every replica. Auth is on when static keys or a master key are configured, or
the state store holds a virtual key (looked at again every few seconds until one
appears, and assumed on when the store cannot be read: fail closed).

The principal goes into the ASGI scope; ``principal_options`` hands it (and the
key the spend and memory are attributed to) to the request's options.
"""

from __future__ import annotations

import hmac
import math
import os
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..errors import PreLLMError
from ..store.errors import StateError
from ..store.keys import KEY_PREFIX, Principal
from .errors import HTTPError, error_response

MASTER_KEY_ENV = "PRELLM_MASTER_KEY"
RECHECK_S = 5.0
MASTER = Principal(kind="master", name="master")
STATIC = Principal(kind="static")


def _unauthorised(message: str) -> HTTPError:
    return HTTPError(401, message, "authentication_error", "invalid_api_key")


def state_error(exc: StateError) -> HTTPError:
    return HTTPError(exc.http_status, str(exc), exc.http_type, exc.http_code)


class Authenticator:
    def __init__(self, keys: list[bytes], master: str | None = None) -> None:
        self.keys = keys
        raw = master if master is not None else os.environ.get(MASTER_KEY_ENV, "")
        self.master = raw.strip().encode() or None
        self._virtual = False  # whether the store holds a key, as last seen
        self._seen = -math.inf
        self._lock = threading.Lock()

    def registry(self) -> Any:
        from ..store import BudgetTracker

        return BudgetTracker.shared().keys

    @property
    def enabled(self) -> bool:
        if self.keys or self.master or self._virtual:
            return True
        if os.environ.get("PRELLM_NO_LEDGER"):
            return False
        now = time.monotonic()
        if now - self._seen >= RECHECK_S:
            with self._lock:
                self._seen = now
                try:
                    self._virtual = self.registry().any_keys()
                except PreLLMError:
                    self._virtual = True  # cannot tell: refuse what cannot be checked
        return self._virtual

    @staticmethod
    def public(scope: dict[str, Any]) -> bool:
        """Paths the app made public (``app.state.public_paths``)."""
        state = getattr(scope.get("app"), "state", None)
        return scope["path"] in (getattr(state, "public_paths", None) or ())

    def check(self, header: bytes) -> Principal | HTTPError:
        """The caller's principal, or the error to answer with."""
        scheme, _, raw = header.partition(b" ")
        token = raw.strip()
        if scheme.lower() != b"bearer" or not token:
            return _unauthorised("missing API key" if not header else "invalid API key")
        # Compare against every key, always, so timing does not tell which one nearly matched.
        static = [hmac.compare_digest(token, k) for k in self.keys]
        master = hmac.compare_digest(token, self.master or b"\0" * len(token))
        if self.master and master:
            return MASTER
        if any(static):
            return STATIC
        if token.startswith(KEY_PREFIX.encode()):
            try:
                principal, why = self.registry().authenticate(token.decode("ascii", "replace"))
            except StateError as exc:
                return state_error(exc)
            except PreLLMError as exc:
                return HTTPError(503, str(exc), "service_unavailable", "state_store_unavailable")
            return principal or _unauthorised(why)
        return _unauthorised("invalid API key")


def principal_of(request: Request) -> Principal | None:
    state = request.scope.get("state") or {}
    principal = state.get("principal")
    return principal if isinstance(principal, Principal) else None


def principal_options(request: Request) -> dict[str, Any]:
    """Run options for the caller: the principal, and the key spend and memory belong to."""
    principal = principal_of(request)
    if principal is None:
        return {"budget_key": None, "principal": None}
    token = (request.scope.get("state") or {}).get("api_key")
    return {"budget_key": token or None, "principal": principal}


def require_master(request: Request) -> Principal:
    """The admin API's gate: only the master key."""
    principal = principal_of(request)
    if principal is None or not principal.admin:
        if not os.environ.get(MASTER_KEY_ENV):
            raise HTTPError(
                403,
                f"the admin API is off: set {MASTER_KEY_ENV} to use it",
                "permission_error",
                "admin_disabled",
            )
        raise HTTPError(403, "the master key is required", "permission_error", "admin_only")
    return principal


def install_errors(app: FastAPI) -> None:
    """Key, team and store refusals in OpenAI's error shape, with ``Retry-After`` on 429."""

    @app.exception_handler(StateError)
    async def _state_error(request: Request, exc: StateError) -> JSONResponse:
        err = state_error(exc)
        headers = None
        if exc.retry_after is not None:
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return error_response(err, request.url.path, headers)
