"""The exceptions preLLM raises. Every failure a user can see is one of these.

``exit_code`` is what the CLI returns for it: 2 for a usage or configuration
problem the user can fix by changing what they typed, 1 for a runtime or
provider failure.
"""

from __future__ import annotations


class PreLLMError(Exception):
    """Base class of every error preLLM raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(PreLLMError):
    """Bad configuration or usage: a missing model, an unknown strategy, a bad file."""

    exit_code = 2


class ProviderError(PreLLMError):
    """A model provider failed: unreachable, refused the request, or errored."""

    def __init__(self, model: str, cause: str, *, status_code: int | None = None) -> None:
        super().__init__(f"{model}: {cause}")
        self.model = model
        self.cause = cause
        self.status_code = status_code


class ProviderTimeoutError(ProviderError):
    """The provider did not answer within the timeout."""


class ProviderAuthError(ProviderError):
    """The provider rejected the credentials (missing or wrong API key)."""


class RateLimitError(ProviderError):
    """The provider refused the request because of a rate limit or quota."""


class BudgetExceededError(PreLLMError):
    """A request would run over a configured spending limit; no call was made."""


class ValidationError(PreLLMError):
    """A model's answer did not satisfy what was asked of it (schema, non-empty...)."""

    def __init__(self, model: str, cause: str) -> None:
        super().__init__(f"{model}: {cause}")
        self.model = model
        self.cause = cause
