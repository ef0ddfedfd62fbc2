"""Errors in OpenAI's shape, ``{"error": {"message", "type", "code"}}``, with fitting statuses."""

from __future__ import annotations

from typing import Any

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


def body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    """OpenAI's error shape; the message scrubbed (a key sent as a model name is not echoed)."""
    from ..observability.logging import scrub

    return {"error": {"message": scrub(message), "type": type_, "param": None, "code": code}}


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
