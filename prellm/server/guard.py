"""A pure ASGI gate in front of the app: bearer auth, then the body size limit (413),
whether the size is announced by Content-Length or only seen while streaming in."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi.responses import JSONResponse

from .errors import HTTPError, body

PUBLIC_PATHS = {"/health/liveness"}


def error_response(err: HTTPError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return JSONResponse(
        body(err.message, err.type, err.code), status_code=err.status, headers=headers
    )


class Guard:
    def __init__(self, app: Any, keys: list[bytes], limit: int) -> None:
        self.app, self.keys, self.limit = app, keys, limit

    def _authorised(self, headers: dict[bytes, bytes]) -> HTTPError | None:
        header = headers.get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        # Compare against every key, always, so timing does not tell which one nearly matched.
        matches = [hmac.compare_digest(token.strip(), k) for k in self.keys]
        if scheme.lower() == b"bearer" and any(matches):
            return None
        message = "missing API key" if not header else "invalid API key"
        return HTTPError(401, message, "authentication_error", "invalid_api_key")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        # CORS preflights carry no credentials by design; they reach no endpoint.
        public = scope["path"] in PUBLIC_PATHS or scope["method"] == "OPTIONS"
        if self.keys and not public and (denied := self._authorised(headers)):
            return await error_response(denied)(scope, receive, send)
        declared = headers.get(b"content-length")
        too_big = HTTPError(413, f"request body over {self.limit} bytes", code="request_too_large")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await error_response(too_big)(scope, receive, send)
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise too_big
            return message

        try:
            await self.app(scope, limited, send)
        except HTTPError as err:
            if err is not too_big:
                raise
            await error_response(err)(scope, receive, send)
