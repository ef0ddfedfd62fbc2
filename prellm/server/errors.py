"""Errors in OpenAI's shape, ``{"error": {"message", "type", "code"}}``, with fitting statuses."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from ..errors import (
    BudgetExceededError,
    ConfigError,
    PreLLMError,
    ProviderAuthError,
    ProviderTimeoutError,
    RateLimitError,
)


class HTTPError(Exception):
    """An error the server answers with, before or instead of running a request."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code


ANTHROPIC_PATH = "/v1/messages"  # Anthropic's clients read Anthropic's error shape
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def body(
    message: str, type_: str, code: str | None, *, status: int = 400, path: str = ""
) -> dict[str, Any]:
    """The error body in the shape the endpoint's clients read: OpenAI's, or Anthropic's
    (``{"type": "error", "error": {"type", "message"}}``) under ``/v1/messages``. The
    message is scrubbed (a key sent as a model name is not echoed)."""
    from ..observability.logging import scrub

    if path == ANTHROPIC_PATH or path.startswith(ANTHROPIC_PATH + "/"):
        return anthropic_body(status, scrub(message))
    return {"error": {"message": scrub(message), "type": type_, "param": None, "code": code}}


def anthropic_body(status: int, message: str) -> dict[str, Any]:
    kind = _ANTHROPIC_TYPES.get(status) or (
        "api_error" if status >= 500 else "invalid_request_error"
    )
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": None}


def from_prellm(exc: PreLLMError) -> HTTPError:
    """The HTTP answer for a preLLM error: the client's fault is 4xx, the upstream's 5xx."""
    if isinstance(exc, ConfigError):
        return HTTPError(400, str(exc), "invalid_request_error", "invalid_request")
    if isinstance(exc, BudgetExceededError):
        return HTTPError(402, str(exc), "insufficient_quota", "budget_exceeded")
    if isinstance(exc, RateLimitError):
        return HTTPError(429, str(exc), "rate_limit_error", "upstream_rate_limited")
    if isinstance(exc, ProviderTimeoutError):
        return HTTPError(504, str(exc), "upstream_error", "upstream_timeout")
    if type(exc).__name__ == "SensitiveDataError":
        # A user redaction rule ran out of time: nothing was sent.
        return HTTPError(500, str(exc), "server_error", "redaction_failed")
    if getattr(exc, "status_code", None) == 400:
        return HTTPError(400, str(exc), "invalid_request_error", "upstream_bad_request")
    if isinstance(exc, ProviderAuthError):
        # The proxy's own credentials for the upstream are wrong: not the client's fault.
        return HTTPError(502, str(exc), "upstream_error", "upstream_auth_failed")
    return HTTPError(502, str(exc), "upstream_error", "upstream_failed")


def error_response(
    err: HTTPError, path: str = "", headers: dict[str, str] | None = None
) -> JSONResponse:
    """``err`` in the shape the clients of ``path`` read (see ``errors.body``)."""
    headers = dict(headers or {})
    if err.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    content = body(err.message, err.type, err.code, status=err.status, path=path)
    return JSONResponse(content, status_code=err.status, headers=headers or None)
