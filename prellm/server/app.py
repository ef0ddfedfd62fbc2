"""The FastAPI application: ``/v1/chat/completions``, ``/v1/models``, health checks.

A thin adapter: requests are parsed into the engine's options and run by a
pooled ``PreLLM`` engine (the library's and CLI's), which resolves models and
configuration; responses are shaped in ``openai_format``.
"""

from __future__ import annotations

import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConfigError, PreLLMError
from ..observability.logging import get_logger
from ..strategies import get_strategy
from .admin import check_store, install_admin
from .auth import principal_of
from .body import parse_json_object
from .dispatch import Call, bearer, dispatch
from .engines import EnginePool
from .errors import HTTPError, error_response, from_prellm
from .guard import LOOPBACK_NAMES, Guard, loopback
from .metrics import install_metrics, observe, observed
from .openai_format import completion
from .openapi import install_openapi
from .schemas import ChatCompletionRequest
from .settings import ServerSettings
from .streaming import ClosingStreamingResponse, chunks

log = get_logger("prellm.server")


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
    app.add_middleware(
        Guard, keys=keys, limit=settings.max_body_bytes, hosts=_allowed_hosts(settings)
    )
    _error_handlers(app)
    _health_routes(app, settings, pool)
    _chat_routes(app, settings, pool, with_keys=bool(keys))
    _agent_routes(app, settings, pool, with_keys=bool(keys))
    install_admin(app)  # /admin/keys, /admin/teams, /admin/spend; key and store refusals
    install_metrics(app, public=settings.metrics_public)  # /metrics
    install_openapi(app)
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
        return error_response(exc, request.url.path)

    @app.exception_handler(PreLLMError)
    async def _prellm_error(request: Request, exc: PreLLMError) -> JSONResponse:
        err = from_prellm(exc)
        log.warning("%s %s -> %d: %s", request.method, request.url.path, err.status, err.message)
        return error_response(err, request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours: still OpenAI's shape, the cause in the log, no traceback to clients.
        log.error(
            "%s %s -> 500: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc
        )
        return error_response(
            HTTPError(
                500, f"internal error: {type(exc).__name__}", "server_error", "internal_error"
            ),
            request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _routing(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown routes and methods answer in OpenAI's shape too.
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = f"{request.method} {request.url.path}: {exc.detail}"
        headers = getattr(exc, "headers", None)
        err = error_response(HTTPError(exc.status_code, message, code=code), request.url.path)
        if headers:
            err.headers.update(headers)
        return err

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            if e.get("type") == "extra_forbidden":
                problems.append(f"unknown field {loc!r} (not forwarded by preLLM)")
                continue
            problems.append(f"{loc or 'body'}: {e.get('msg')}")
        return error_response(
            HTTPError(400, "invalid request: " + "; ".join(problems), code="invalid_request"),
            request.url.path,
        )


def _health_routes(app: FastAPI, settings: ServerSettings, pool: EnginePool) -> None:
    @app.get("/health/liveness")
    async def liveness() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/readiness")
    async def readiness() -> JSONResponse:
        from .health import check_models

        checks = await check_models(pool, settings.readiness_timeout_s) + [await check_store()]
        ok = all(c["ok"] for c in checks)
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    def model_names() -> list[str]:
        names = ["prellm:default", *settings.aliases]
        if settings.large:
            names.append(f"prellm:{settings.large}")
        return names

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        created = int(time.time())
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": created, "owned_by": "prellm"}
                for n in model_names()
            ],
        }

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str) -> dict[str, Any]:
        if model_id not in model_names():
            raise HTTPError(404, f"model {model_id!r} not found", code="model_not_found")
        return {
            "id": model_id,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "prellm",
        }


def _allowed_hosts(settings: ServerSettings) -> tuple[bytes, ...]:
    """Host header names accepted: configured ones, else loopback names on a loopback bind."""
    if settings.allowed_hosts:
        return tuple(h.lower().encode() for h in settings.allowed_hosts)
    return LOOPBACK_NAMES if loopback(settings.host) else ()


def _json_body_required(request: Request) -> None:
    """No form or text posts: a web page cannot make a browser send this one (CSRF)."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise HTTPError(415, "Content-Type must be application/json", code="unsupported_media_type")


async def _parse(request: Request, settings: ServerSettings) -> ChatCompletionRequest:
    _json_body_required(request)
    raw = parse_json_object(await request.body())
    from pydantic import ValidationError as PydanticValidationError

    try:
        req = ChatCompletionRequest.model_validate(raw)
    except PydanticValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    if req.stream and req.n not in (None, 1):
        raise HTTPError(400, "n>1 is not supported with stream=true", code="unsupported_parameter")
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
        messages = [m.model_dump(exclude_none=True) for m in req.messages]
        call = Call(req.model, messages, req.llm_kwargs(), p, req.user)
        engine, opts = dispatch(request, settings, pool, call, with_keys=with_keys)
        if not req.stream:
            return completion(req.model, observe(request, await engine.arun_options(None, opts)))
        events = observed(request, engine.astream_options(None, opts))
        # Pull the first event before answering, so that a bad request still gets its 4xx.
        first = await events.__anext__()
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return ClosingStreamingResponse(
            chunks(
                first,
                events,
                model=req.model,
                include_usage=include_usage,
                show_stages=p.show_stages,
                keepalive_s=settings.keepalive_s,
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


async def _body(request: Request, model: type[Any]) -> Any:
    _json_body_required(request)
    raw = parse_json_object(await request.body())
    from pydantic import ValidationError as PydanticValidationError

    try:
        return model.model_validate(raw)
    except PydanticValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _sse(body: Any) -> ClosingStreamingResponse:
    return ClosingStreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _agent_routes(
    app: FastAPI, settings: ServerSettings, pool: EnginePool, *, with_keys: bool
) -> None:
    """Anthropic's Messages API, OpenAI's Responses API, and the pass-through endpoints."""
    from . import anthropic, passthrough, responses

    @app.post("/v1/messages")
    async def messages(request: Request) -> Any:
        req = await _body(request, anthropic.MessagesRequest)
        chat, kwargs = anthropic.to_chat(req)
        call = Call(req.model, chat, kwargs, req.prellm)
        engine, opts = dispatch(request, settings, pool, call, with_keys=with_keys)
        if not req.stream:
            result = observe(request, await engine.arun_options(None, opts))
            return anthropic.message(req.model, result)
        events = observed(request, engine.astream_options(None, opts))
        return _sse(anthropic.stream(req.model, await events.__anext__(), events))

    @app.post("/v1/responses")
    async def create_response(request: Request) -> Any:
        req = await _body(request, responses.ResponsesRequest)
        chat, kwargs = responses.to_chat(req)
        call = Call(req.model, chat, kwargs, req.prellm, req.user)
        engine, opts = dispatch(request, settings, pool, call, with_keys=with_keys)
        if not req.stream:
            result = observe(request, await engine.arun_options(None, opts))
            return responses.response(req.model, result, f"resp_{uuid.uuid4().hex[:24]}")
        events = observed(request, engine.astream_options(None, opts))
        return _sse(responses.stream(req.model, await events.__anext__(), events))

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        req = await _body(request, passthrough.CompletionsRequest)
        key = bearer(request) if with_keys else None
        return await passthrough.run("text", req, settings, pool, key, principal_of(request))

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        req = await _body(request, passthrough.EmbeddingsRequest)
        key = bearer(request) if with_keys else None
        return await passthrough.run("embedding", req, settings, pool, key, principal_of(request))


def _version() -> str:
    from .. import __version__

    return __version__


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings come from ``PRELLM_SERVER_SETTINGS``."""
    try:
        return create_app(ServerSettings.from_env())
    except ConfigError as exc:
        raise SystemExit(f"prellm: error: {exc}") from None
