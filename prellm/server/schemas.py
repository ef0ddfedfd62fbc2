"""The OpenAI chat request the proxy speaks, as Pydantic models (and so its JSON Schema).

Messages are told apart by ``role``, with what each role requires (a user turn
needs content, a tool result its ``tool_call_id``). Extra keys on a message are
kept and forwarded (redacted like the rest). At the top level, every field of the
chat API preLLM forwards is listed here; any other field is a 400 naming it,
never silently dropped. litellm's own connection and test arguments
(``api_base``, ``api_key``, ``mock_response``, ...) are not fields of this API.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Open = ConfigDict(extra="allow")


class TextPart(BaseModel):
    model_config = Open
    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    model_config = Open
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    model_config = Open
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(BaseModel):
    data: str
    format: str


class AudioPart(BaseModel):
    model_config = Open
    type: Literal["input_audio"]
    input_audio: InputAudio


class FilePart(BaseModel):
    model_config = Open
    type: Literal["file"]
    file: dict[str, Any]


class RefusalPart(BaseModel):
    model_config = Open
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
Text = str | list[TextPart]


class FunctionCall(BaseModel):
    name: str
    arguments: str


class ToolCall(BaseModel):
    model_config = Open
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(BaseModel):
    model_config = Open
    role: Literal["system", "developer"]
    content: Text
    name: str | None = None


class UserMessage(BaseModel):
    model_config = Open
    role: Literal["user"]
    content: (
        Annotated[str, Field(pattern=r"\S")] | Annotated[list[ContentPart], Field(min_length=1)]
    )
    name: str | None = None


class AssistantMessage(BaseModel):
    model_config = Open
    role: Literal["assistant"]
    content: str | list[TextPart | RefusalPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    refusal: str | None = None


class ToolMessage(BaseModel):
    model_config = Open
    role: Literal["tool"]
    content: Text
    tool_call_id: str


class FunctionMessage(BaseModel):
    model_config = Open
    role: Literal["function"]
    content: str | None
    name: str


ChatMessage = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


class ResponseFormat(BaseModel):
    model_config = Open
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and not (
            self.json_schema and isinstance(self.json_schema.get("name"), str)
        ):
            raise ValueError("json_schema needs a 'json_schema' object with a 'name'")
        return self


class FunctionDef(BaseModel):
    model_config = Open
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(BaseModel):
    model_config = Open
    type: Literal["function"]
    function: FunctionDef


class NamedTool(BaseModel):
    type: Literal["function"]
    function: dict[str, str]


class AttachedFile(BaseModel):
    """Material attached to the question, inline (a server never reads a path it is sent)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("attached", min_length=1, max_length=200)
    content: str


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
    files: list[AttachedFile] = Field(
        default_factory=list,
        max_length=32,
        description="Logs, traces, diffs or documents attached to the question, inline; "
        "big ones are condensed to ranked evidence",
    )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


# Fields forwarded to the large model as they came (litellm speaks OpenAI's names).
FORWARDED = (
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "n",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "reasoning_effort",
    "metadata",
    "store",
    "service_tier",
    "prediction",
    "modalities",
    "audio",
    "verbosity",
    "web_search_options",
    "prompt_cache_key",
    "safety_identifier",
    "user",
)


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=512)
    messages: list[ChatMessage] = Field(
        min_length=1,
        # A request needs a user turn to answer (agent continuations end with a tool result).
        json_schema_extra={"contains": {"properties": {"role": {"const": "user"}}}},
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1, le=128)
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedTool | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDef] | None = None
    function_call: Literal["none", "auto"] | dict[str, str] | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    prediction: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    web_search_options: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    user: str | None = None
    prellm: PrellmOptions = Field(default_factory=PrellmOptions)

    def llm_kwargs(self) -> dict[str, Any]:
        """The fields the client set that go to the large model, in litellm's names."""
        out = {k: getattr(self, k) for k in FORWARDED if k in self.model_fields_set}
        out = {k: _plain(v) for k, v in out.items() if v is not None}
        tokens = self.max_tokens or self.max_completion_tokens
        if tokens:
            out["max_tokens"] = tokens
        if self.response_format is not None:
            out["response_format"] = self.response_format.model_dump(exclude_none=True)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
