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


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        error = _schema(ErrorBody, components)
        op = doc["paths"][CHAT]["post"]
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(ChatCompletionRequest, components)}},
        }
        ok = _json(_schema(ChatCompletion, components), "The answer, or an SSE stream if stream")
        ok["content"]["text/event-stream"] = {}  # chat.completion.chunk events, as OpenAI's
        op["responses"] = {"200": ok, **{s: _json(error, d) for s, d in ERROR_STATUSES.items()}}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
