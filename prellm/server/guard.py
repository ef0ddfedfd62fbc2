"""A pure ASGI gate in front of the app, in order: the Host header (DNS rebinding), bearer
auth (one Authorization header), then the body size limit (413), announced by
Content-Length or seen streaming in."""

from __future__ import annotations

from typing import Any

from .auth import Authenticator
from .errors import HTTPError, error_response

PUBLIC_PATHS = {"/health/liveness"}


LOOPBACK_NAMES = (b"localhost", b"127.0.0.1", b"[::1]", b"::1")


def loopback(host: str) -> bool:
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Guard:
    def __init__(
        self, app: Any, keys: list[bytes], limit: int, hosts: tuple[bytes, ...] = ()
    ) -> None:
        # hosts: Host header names accepted (any port); empty: any host.
        self.app, self.keys, self.limit, self.hosts = app, keys, limit, hosts
        self.auth = Authenticator(keys)  # static keys, the master key, virtual keys

    def _host_ok(self, headers: list[tuple[bytes, bytes]]) -> bool:
        if not self.hosts:
            return True
        values = [v for k, v in headers if k == b"host"]
        if len(values) != 1:
            return False
        name = values[0].strip().lower()
        bracketed = name.startswith(b"[")
        name = name[: name.find(b"]") + 1] if bracketed else name.partition(b":")[0]
        return name in self.hosts

    def _refusal(self, scope: dict[str, Any], raw: list[tuple[bytes, bytes]]) -> HTTPError | None:
        if not self._host_ok(raw):
            return HTTPError(400, "Host header not allowed", code="invalid_host")
        auth = [v for k, v in raw if k == b"authorization"]
        if len(auth) > 1:
            return HTTPError(400, "more than one Authorization header", code="invalid_request")
        anthropic_keys = [v for k, v in raw if k == b"x-api-key"]
        if len(anthropic_keys) > 1 or (auth and anthropic_keys):
            return HTTPError(400, "more than one API key header", code="invalid_request")
        if anthropic_keys:  # Anthropic's clients send their key this way
            auth = [b"Bearer " + anthropic_keys[0]]
        # CORS preflights carry no credentials by design; they reach no endpoint.
        public = scope["path"] in PUBLIC_PATHS or scope["method"] == "OPTIONS"
        public = public or self.auth.public(scope)  # e.g. /metrics with --metrics-public
        if not public and self.auth.enabled:
            header = auth[0] if auth else b""
            principal = self.auth.check(header)
            if isinstance(principal, HTTPError):
                return principal
            # For the app: who is calling, and with which key (spend and memory are theirs).
            token = header.partition(b" ")[2].strip().decode("latin-1")
            scope.setdefault("state", {}).update(principal=principal, api_key=token)
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = list(scope.get("headers") or [])
        if refused := self._refusal(scope, raw):
            return await error_response(refused, scope.get("path", ""))(scope, receive, send)
        headers = dict(raw)
        declared = headers.get(b"content-length")
        too_big = HTTPError(413, f"request body over {self.limit} bytes", code="request_too_large")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await error_response(too_big, scope.get("path", ""))(scope, receive, send)
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise too_big
            return message

        try:
            await self.app(scope, limited, send)
        except HTTPError as err:
            if err is not too_big:
                raise
            await error_response(err, scope.get("path", ""))(scope, receive, send)
