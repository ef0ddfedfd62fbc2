"""The OpenAPI document describes the real request and response bodies.

The chat endpoint reads its body itself (strict JSON: bounded nesting, finite
numbers, valid text), so FastAPI cannot see its shape; it is added here from the
same Pydantic models that validate it, with the OpenAI-shaped error bodies.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from .schemas import ChatCompletionRequest

REF = "#/components/schemas/{model}"
CHAT = "/v1/chat/completions"
ERROR_STATUSES = {
    "400": "Invalid request: bad JSON, wrong types, unknown model or strategy",
    "401": "Missing or invalid API key",
    "402": "A budget would be exceeded; no model was called",
    "403": "The model is not allowed for this client",
    "413": "Body too large or too many messages",
    "415": "Content-Type is not application/json",
    "429": "Rate limited (upstream or preLLM)",
    "502": "The upstream model failed",
    "504": "The upstream model did not answer before the deadline",
}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class AnthropicErrorDetail(BaseModel):
    type: str
    message: str


class AnthropicErrorBody(BaseModel):
    """Anthropic's error shape, which ``/v1/messages`` answers with."""

    type: Literal["error"]
    error: AnthropicErrorDetail
    request_id: str | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str | None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    prellm: dict[str, Any]


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _bodies() -> dict[str, tuple[type[BaseModel], bool]]:
    """The endpoints that read their own JSON body: the model, and whether they may stream."""
    from .anthropic import MessagesRequest
    from .passthrough import CompletionsRequest, EmbeddingsRequest
    from .responses import ResponsesRequest

    return {
        CHAT: (ChatCompletionRequest, True),
        "/v1/messages": (MessagesRequest, True),
        "/v1/responses": (ResponsesRequest, True),
        "/v1/completions": (CompletionsRequest, False),
        "/v1/embeddings": (EmbeddingsRequest, False),
    }


def _document_body(
    op: dict[str, Any], request: dict[str, Any], ok: dict[str, Any], error: dict[str, Any]
) -> None:
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
    op["responses"] = {"200": ok, **{s: _json(error, d) for s, d in ERROR_STATUSES.items()}}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        error = _schema(ErrorBody, components)
        anthropic_error = _schema(AnthropicErrorBody, components)
        for path, (model, streams) in _bodies().items():
            op = doc["paths"].get(path, {}).get("post")
            if op is None:
                continue
            if path == CHAT:
                ok = _json(_schema(ChatCompletion, components), "The answer, or an SSE stream")
            else:
                ok = _json({"type": "object"}, "The answer in this API's own shape")
            if streams:
                ok["content"]["text/event-stream"] = {}  # the API's own stream events
            shape = anthropic_error if path == "/v1/messages" else error
            _document_body(op, _schema(model, components), ok, shape)
        model_op = doc["paths"].get("/v1/models/{model_id}", {}).get("get")
        if model_op is not None:
            model_op["responses"]["404"] = _json(error, "No model by that name")
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
