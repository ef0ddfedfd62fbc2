"""The FastAPI application: ``/v1/chat/completions``, ``/v1/models``, health checks.

A thin adapter: requests are parsed into the engine's options and run by a
pooled ``PreLLM`` engine (the library's and CLI's), which resolves models and
configuration; responses are shaped in ``openai_format``.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from ..errors import ConfigError, PreLLMError
from ..request.options import run_options
from ..strategies import get_strategy
from .engines import EnginePool, resolve_pair
from .errors import HTTPError, from_prellm
from .guard import Guard, error_response
from .openai_format import completion
from .schemas import ChatCompletionRequest
from .settings import ServerSettings
from .streaming import chunks

log = logging.getLogger("prellm.server")


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings.from_env()
    if settings.strategy:
        get_strategy(settings.strategy)  # a typo fails at start-up, not at the first request
    keys = [k.get_secret_value().encode() for k in settings.api_keys]
    from ..store import UserMemory

    pool = EnginePool(settings, UserMemory())  # memory opens on first use by a session
    app = FastAPI(
        title="preLLM", version=_version(), lifespan=_lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.settings, app.state.engines = settings, pool
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(Guard, keys=keys, limit=settings.max_body_bytes)
    _error_handlers(app)
    _health_routes(app, settings, pool)
    _chat_routes(app, settings, pool, with_keys=bool(keys))
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> Any:
    import asyncio
    import os
    import sys

    from .. import providers

    # Import litellm before saying ready: the first request must not pay seconds for it.
    await asyncio.to_thread(providers.litellm)
    print(f"prellm: ready (pid {os.getpid()})", file=sys.stderr, flush=True)
    yield


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, exc: HTTPError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(PreLLMError)
    async def _prellm_error(request: Request, exc: PreLLMError) -> JSONResponse:
        err = from_prellm(exc)
        log.warning("%s %s -> %d: %s", request.method, request.url.path, err.status, err.message)
        return error_response(err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append(f"{loc or 'body'}: {e.get('msg')}")
        return error_response(
            HTTPError(400, "invalid request: " + "; ".join(problems), code="invalid_request")
        )


def _health_routes(app: FastAPI, settings: ServerSettings, pool: EnginePool) -> None:
    @app.get("/health/liveness")
    async def liveness() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/readiness")
    async def readiness() -> JSONResponse:
        from .health import check_models

        checks = await check_models(pool, settings.readiness_timeout_s)
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


async def _parse(request: Request, settings: ServerSettings) -> ChatCompletionRequest:
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
    return req


def _chat_routes(
    app: FastAPI, settings: ServerSettings, pool: EnginePool, *, with_keys: bool
) -> None:
    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        req = await _parse(request, settings)
        p = req.prellm
        engine = pool.get(resolve_pair(req.model, settings), p.strategy, p.domain)
        opts = run_options(
            **{
                "timeout": settings.upstream_timeout_s,
                **req.llm_kwargs(),
                "messages": [m.model_dump(exclude_none=True) for m in req.messages],
                "user_context": p.user_context,
                "sanitize": p.sanitize,
                "session": p.session,
                "response_schema": p.response_schema,
                "pipeline": p.pipeline,
                "user": req.user,
                "budget_key": _bearer(request) if with_keys else None,
            }
        )
        if not req.stream:
            return completion(req.model, await engine.arun_options(None, opts))
        events = engine.astream_options(None, opts)
        # Pull the first event before answering, so that a bad request still gets its 4xx.
        first = await events.__anext__()
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(
            chunks(
                first,
                events,
                model=req.model,
                include_usage=include_usage,
                show_stages=p.show_stages,
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


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
