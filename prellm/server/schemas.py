"""The OpenAI request and response shapes the proxy speaks (the parts it uses).

Unknown fields are ignored, as OpenAI-compatible servers do, so clients that
send newer fields keep working.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


class PrellmOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: str | None = None
    user_context: str | dict[str, Any] | None = None
    show_stages: bool = False
    sanitize: bool = True
    session: str | None = Field(None, max_length=200)
    domain: str | None = None
    pipeline: str | None = None
    response_schema: str | None = Field(
        None, description="A schema name from the server's schemas.yaml"
    )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None
    prellm: PrellmOptions = Field(default_factory=PrellmOptions)

    def llm_kwargs(self) -> dict[str, Any]:
        """Generation parameters for the large model, in litellm's names."""
        out = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens or self.max_completion_tokens,
            "stop": self.stop,
            "seed": self.seed,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "response_format": self.response_format,
            "user": self.user,
        }
        return {k: v for k, v in out.items() if v is not None}
