"""What the server is configured with: models, aliases, keys, limits.

Settings travel to uvicorn workers as JSON in ``PRELLM_SERVER_SETTINGS``, so
``--workers N`` processes all serve the same configuration. API keys never travel
that way: each worker reads them where the user put them (``PRELLM_API_KEYS`` or
the keys file), so no secret is copied into another environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from ..errors import ConfigError

SETTINGS_ENV = "PRELLM_SERVER_SETTINGS"


class ModelPair(BaseModel):
    small: str | None = None
    large: str | None = None


class ServerSettings(BaseModel):
    small: str | None = Field(
        None, description="Default small model; None: PRELLM_SMALL_MODEL or embedded"
    )
    large: str | None = Field(
        None, description="Default large model; None: PRELLM_LARGE_MODEL or embedded"
    )
    strategy: str | None = Field(
        None, description="Default strategy; None: prellm.yaml's strategy/pipeline, else auto"
    )
    config: str | None = Field(None, description="prellm.yaml; None: discovered as usual")
    aliases: dict[str, ModelPair] = Field(default_factory=dict, description="model name -> pair")
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="Bearer keys; empty: no auth"
    )
    cors_origins: list[str] = Field(default_factory=list)
    host: str = Field("127.0.0.1", description="The interface the server is bound to")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header values accepted; empty: loopback names when bound to loopback",
    )
    allow_models: list[str] = Field(
        default_factory=list,
        description="Glob patterns of model strings clients may name; empty: any remote model",
    )
    max_body_bytes: int = Field(1_000_000, gt=0)
    max_messages: int = Field(200, gt=0)
    readiness_timeout_s: float = Field(5.0, gt=0)
    trace: bool = Field(False, description="Write a trace for every request")
    trace_dir: str | None = None
    upstream_timeout_s: float = Field(
        120.0, gt=0, description="One deadline for a request's model calls, retries included"
    )
    keepalive_s: float = Field(10.0, gt=0, description="SSE comment interval while waiting")
    metrics_public: bool = Field(
        False, description="/metrics without a key; else the master key when auth is on"
    )

    @classmethod
    def from_env(cls) -> ServerSettings:
        raw = os.environ.get(SETTINGS_ENV)
        settings = cls.model_validate_json(raw) if raw else cls()
        if not settings.api_keys:
            settings.api_keys = [SecretStr(k) for k in load_api_keys()]
        return settings

    def to_env(self) -> str:
        return self.model_dump_json(exclude={"api_keys"})


def load_api_keys(keys_file: str | None = None) -> list[str]:
    """Keys from ``PRELLM_API_KEYS`` (comma-separated) and a keys file (one per line, # comments)."""
    keys = [k.strip() for k in os.environ.get("PRELLM_API_KEYS", "").split(",") if k.strip()]
    path = keys_file or os.environ.get("PRELLM_API_KEYS_FILE")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read API keys file {path}: {exc.strerror}") from None
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return keys
