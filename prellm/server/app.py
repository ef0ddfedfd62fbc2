"""The FastAPI application: ``/v1/chat/completions``, ``/v1/models``, health checks.

Every request runs through the same ``PreLLM`` engine as the library and CLI.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from ..engine import PreLLM
from ..errors import ConfigError, PreLLMError
from ..models import PreLLMResult
from ..strategies import get_strategy
from .errors import HTTPError, body, from_prellm
from .schemas import ChatCompletionRequest
from .settings import ModelPair, ServerSettings
from .streaming import chunks, completion_id

log = logging.getLogger("prellm.server")

PUBLIC_PATHS = {"/health/liveness"}


def resolve_pair(model: str, settings: ServerSettings) -> ModelPair:
    """The (small, large) pair a request's ``model`` field selects.

    ``prellm:default``; ``prellm:<small>-><large>`` (or ``→``); ``prellm:<large>``
    with the default small; a configured alias; any other string is the large
    model, with the default small model.
    """
    default = ModelPair(small=settings.small, large=settings.large)
    if model in settings.aliases:
        alias = settings.aliases[model]
        return ModelPair(small=alias.small or default.small, large=alias.large or default.large)
    if model in ("prellm", "prellm:default"):
        return default
    spec = model.removeprefix("prellm:")
    for arrow in ("->", "→"):
        if arrow in spec:
            small, _, large = spec.partition(arrow)
            if not small.strip() or not large.strip():
                raise HTTPError(
                    400,
                    f"model {model!r}: expected prellm:<small>-><large>",
                    code="model_not_found",
                )
            return ModelPair(small=small.strip(), large=large.strip())
    return ModelPair(small=default.small, large=spec.strip())


def summary(result: PreLLMResult) -> dict[str, Any]:
    """The ``prellm`` field of a response: how the prompt was made, and what it cost."""
    d = result.decomposition
    return {
        "strategy": result.strategy,
        "requested_strategy": result.requested_strategy,
        "small_model": result.small_model_used,
        "large_model": result.model_used,
        "intent": d.intent,
        "domain": d.domain,
        "confidence": d.confidence,
        "missing": d.missing,
        "matched_rule": d.matched_rule,
        "parsed": result.parsed,
        "pipeline": result.pipeline,
        "pipeline_steps": [s.model_dump(mode="json") for s in result.pipeline_steps],
        "needs_clarification": result.needs_clarification,
        "fallback_reason": d.fallback_reason,
        "decomposition": d.model_dump(mode="json"),
        "sub_answers": [s.model_dump() for s in result.sub_answers],
        "usage": {k: v.model_dump() for k, v in result.usage.items()},
        "cost_usd": result.cost_usd,
        "timings_ms": result.timings_ms,
        "notices": result.notices,
        "redactions": result.redactions,
    }


def _error_response(err: HTTPError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return JSONResponse(
        body(err.message, err.type, err.code), status_code=err.status, headers=headers
    )


class Guard:
    """Pure ASGI gate in front of the app: bearer auth, then the body size limit (413),
    whether the size is announced by Content-Length or only seen while streaming in."""

    def __init__(self, app: Any, keys: list[bytes], limit: int) -> None:
        self.app, self.keys, self.limit = app, keys, limit

    def _authorised(self, headers: dict[bytes, bytes]) -> HTTPError | None:
        header = headers.get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        # Compare against every key, always, so timing does not tell which one nearly matched.
        matches = [hmac.compare_digest(token.strip(), k) for k in self.keys]
        if scheme.lower() == b"bearer" and any(matches):
            return None
        message = "missing API key" if not header else "invalid API key"
        return HTTPError(401, message, "authentication_error", "invalid_api_key")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        # CORS preflights carry no credentials by design; they reach no endpoint.
        public = scope["path"] in PUBLIC_PATHS or scope["method"] == "OPTIONS"
        if self.keys and not public and (denied := self._authorised(headers)):
            return await _error_response(denied)(scope, receive, send)
        declared = headers.get(b"content-length")
        too_big = HTTPError(413, f"request body over {self.limit} bytes", code="request_too_large")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _error_response(too_big)(scope, receive, send)
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise too_big
            return message

        try:
            await self.app(scope, limited, send)
        except HTTPError as err:
            if err is not too_big:
                raise
            await _error_response(err)(scope, receive, send)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings.from_env()
    get_strategy(settings.strategy)  # a typo fails at start-up, not at the first request
    keys = [k.get_secret_value().encode() for k in settings.api_keys]
    from ..store import UserMemory

    memory = UserMemory()  # opened on first use by a request with a session

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        import asyncio
        import os
        import sys

        from .. import providers

        # Import litellm before saying ready: the first request must not pay seconds for it.
        await asyncio.to_thread(providers.litellm)
        print(f"prellm: ready (pid {os.getpid()})", file=sys.stderr, flush=True)
        yield

    app = FastAPI(
        title="preLLM", version=_version(), lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.settings = settings

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    app.add_middleware(Guard, keys=keys, limit=settings.max_body_bytes)

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, exc: HTTPError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(PreLLMError)
    async def _prellm_error(request: Request, exc: PreLLMError) -> JSONResponse:
        err = from_prellm(exc)
        log.warning("%s %s -> %d: %s", request.method, request.url.path, err.status, err.message)
        return _error_response(err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append(f"{loc or 'body'}: {e.get('msg')}")
        return _error_response(
            HTTPError(400, "invalid request: " + "; ".join(problems), code="invalid_request")
        )

    @app.get("/health/liveness")
    async def liveness() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/readiness")
    async def readiness() -> JSONResponse:
        from .health import check_models

        checks = await check_models(settings)
        ok = all(c["ok"] for c in checks)
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        created = int(time.time())
        names = ["prellm:default", *settings.aliases]
        if settings.large:
            names.append(f"prellm:{settings.large}")
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": created, "owned_by": "prellm"}
                for n in names
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            raw = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HTTPError(400, "request body is not valid JSON", code="invalid_json") from None
        if not isinstance(raw, dict):
            raise HTTPError(400, "request body must be a JSON object", code="invalid_request")
        from pydantic import ValidationError as PydanticValidationError

        try:
            req = ChatCompletionRequest.model_validate(raw)
        except PydanticValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        if req.n not in (None, 1):
            raise HTTPError(400, "only n=1 is supported", code="unsupported_parameter")
        if len(req.messages) > settings.max_messages:
            raise HTTPError(
                413, f"more than {settings.max_messages} messages", code="request_too_large"
            )
        pair = resolve_pair(req.model, settings)
        engine = PreLLM(
            pair.small,
            pair.large,
            req.prellm.strategy or settings.strategy,
            memory=memory,
            trace=settings.trace,
            trace_dir=settings.trace_dir,
        )
        messages = [m.model_dump(exclude_none=True) for m in req.messages]
        run_kwargs = {
            "messages": messages,
            "user_context": req.prellm.user_context,
            "sanitize": req.prellm.sanitize,
            "session": req.prellm.session,
            "response_schema": req.prellm.response_schema,
            "pipeline": req.prellm.pipeline,
            "user": req.user,
            "budget_key": _bearer(request) if keys else None,
            "timeout": settings.upstream_timeout_s,
            **req.llm_kwargs(),
        }

        if not req.stream:
            result = await engine.arun(**run_kwargs)
            return _completion(req.model, result)

        events = engine.astream(**run_kwargs)
        # Pull the first event before answering, so that a bad request still gets its 4xx.
        first = await events.__anext__()
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(
            chunks(
                first,
                events,
                model=req.model,
                include_usage=include_usage,
                show_stages=req.prellm.show_stages,
                summary=summary,
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return app


def _completion(model: str, result: PreLLMResult) -> dict[str, Any]:
    total = result.usage["total"]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.content},
                "finish_reason": result.finish_reason or "stop",
            }
        ],
        "usage": {
            "prompt_tokens": total.prompt_tokens,
            "completion_tokens": total.completion_tokens,
            "total_tokens": total.total_tokens,
        },
        "prellm": summary(result),
    }


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _version() -> str:
    from .. import __version__

    return __version__


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings come from ``PRELLM_SERVER_SETTINGS``."""
    try:
        return create_app(ServerSettings.from_env())
    except ConfigError as exc:
        raise SystemExit(f"prellm: error: {exc}") from None
