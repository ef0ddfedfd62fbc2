"""Refusals the state stores raise, each with the HTTP answer a server gives for it."""

from __future__ import annotations

from ..errors import PreLLMError


class StateError(PreLLMError):
    """A request refused by a key, team or store check; no model was called."""

    http_status = 400
    http_type = "invalid_request_error"
    http_code = "invalid_request"
    retry_after: float | None = None


class StoreUnavailableError(StateError):
    """The state database cannot be reached: requests that need it are refused (fail closed)."""

    http_status, http_type, http_code = 503, "service_unavailable", "state_store_unavailable"


class RateLimitedError(StateError):
    """A key's or team's requests or tokens per minute would be exceeded."""

    http_status, http_type, http_code = 429, "rate_limit_error", "rate_limit_exceeded"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(retry_after, 0.001)


class ModelNotAllowedError(StateError):
    """The key or its team may not use the model the request names."""

    http_status, http_type, http_code = 403, "permission_error", "model_not_allowed"
