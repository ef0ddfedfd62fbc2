"""The one place that talks to model providers.

Everything goes through litellm, imported on first use so that ``import prellm``
and ``prellm --help`` stay fast. preLLM's own providers (the embedded llama.cpp
model, ``local/``, and the deterministic test model, ``test/``) are registered
with litellm as custom providers, so the rest of the code never special-cases
them. Third-party packages can add providers through the ``prellm.providers``
entry-point group: each entry point is a callable returning ``(prefix, handler)``
where ``handler`` is a ``litellm.CustomLLM``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    ConfigError,
    PreLLMError,
    ProviderAuthError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)
from ..models import StageRecord, ToolCallDelta
from ..observability.logging import get_logger
from . import direct  # preLLM's own models without litellm, when the CLI turns it on
from .resolve import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_PREFIX,
    embedded_installed,
    is_embedded,
    is_free,
    resolve_models,
)

# Use the price table shipped with litellm instead of fetching one over the network at
# import. Set here, before any module of this package (the custom providers) imports litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "Completion",
    "acomplete",
    "araw",
    "astream",
    "check_model",
    "check_known",
    "completion_params",
    "cost_of",
    "embedded_installed",
    "is_embedded",
    "is_free",
    "json_response_format",
    "litellm",
    "output_limit",
    "partial",
    "ping",
    "resolve_models",
    "supports_response_schema",
]

log = get_logger("prellm.providers")


_litellm: Any = None
_init_lock = threading.Lock()


def _builtin_providers() -> list[tuple[str, Any]]:
    from .embedded_litellm import EmbeddedLLM
    from .testing_litellm import TestLLM

    return [("local", EmbeddedLLM()), ("test", TestLLM())]


def _plugin_providers() -> list[tuple[str, Any]]:
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group="prellm.providers"):
        try:
            prefix, handler = ep.load()()
            found.append((prefix, handler))
        except Exception as exc:  # a broken plugin must not break every call
            log.warning("provider plugin %s failed to load: %s", ep.name, exc)
    return found


def litellm() -> Any:
    """litellm, imported and configured once, with preLLM's providers registered."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _init_lock:
        if _litellm is None:
            import litellm as _ll

            _ll.suppress_debug_info = True
            _ll.drop_params = True  # providers that lack a parameter get the rest
            logging.getLogger("LiteLLM").setLevel(logging.ERROR)
            providers = _builtin_providers() + _plugin_providers()
            kept = [p for p in _ll.custom_provider_map if p["provider"] not in dict(providers)]
            ours: list[Any] = [{"provider": name, "custom_handler": h} for name, h in providers]
            _ll.custom_provider_map = [*kept, *ours]
            _ll.utils.custom_llm_setup()  # type: ignore[no-untyped-call]
            _litellm = _ll
    return _litellm


@dataclass
class Completion:
    """A finished model call."""

    model: str
    content: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    finish_reason: str | None
    ms: float
    usage_estimated: bool = False
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI shape
    choices: list[dict[str, Any]] = field(default_factory=list)  # every choice, OpenAI shape

    def record(self, stage: str, role: str) -> StageRecord:
        """This call as one stage of a request's account."""
        return StageRecord(
            stage=stage,
            model=self.model,
            role=role,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_usd=self.cost_usd,
            ms=self.ms,
            finish_reason=self.finish_reason,
        )


def cost_of(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Price of a call in USD from litellm's table; 0 for local models, None if unknown."""
    if is_free(model):
        return 0.0
    try:
        p, c = litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
        return float(p + c)
    except Exception:
        return None


_known: set[str] = set()


def check_known(model: str) -> None:
    """A ConfigError (a 400 in the server) for a model string no provider answers to.

    Checked before any call, so a streamed request fails as a non-streamed one does.
    """
    if model in _known or is_free(model):
        return
    try:
        litellm().get_llm_provider(model=model)
    except Exception:
        raise ConfigError(
            f"unknown model {model!r}: use a litellm model string such as "
            f"'gpt-4o-mini', 'ollama/qwen2.5:3b', 'openai/<name>' or '{DEFAULT_LOCAL_MODEL}'"
        ) from None
    _known.add(model)


def output_limit(model: str) -> int | None:
    """The model's maximum output tokens from litellm's table, if it knows the model."""
    if is_free(model):
        return None
    try:
        info = litellm().get_model_info(model=model)
    except Exception:
        return None
    limit = info.get("max_output_tokens") or info.get("max_tokens")
    return int(limit) if limit else None


def context_window(model: str) -> int:
    """The model's input context in tokens: the embedded model's configured size, the
    table's figure for known models, else a conservative 8,192."""
    default = 8192
    if is_embedded(model):
        return int(os.environ.get("PRELLM_LOCAL_CTX", default))
    if is_free(model):
        return default  # test/ models: as small as the embedded one
    try:
        info = litellm().get_model_info(model=model)
    except Exception:
        return default
    return int(info.get("max_input_tokens") or info.get("max_tokens") or default)


def supports_response_schema(model: str) -> bool:
    """Can this model be constrained to a JSON Schema (``response_format`` json_schema)?"""
    if is_free(model):
        return True
    try:
        return bool(litellm().supports_response_schema(model=model))
    except Exception:
        return False


def json_response_format(model: str, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The ``response_format`` to ask ``model`` for JSON matching ``schema``, if it has one."""
    if supports_response_schema(model):
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": False},
        }
    try:
        params = litellm().get_supported_openai_params(model=model) or []
    except Exception:
        params = []
    return {"type": "json_object"} if "response_format" in params else None


_SECRETISH = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+[A-Za-z0-9._\-]+|key[=:]\s*[A-Za-z0-9._\-]{8,})", re.I
)


def _short(text: str, limit: int = 300) -> str:
    """One line, no credentials, no traceback, bounded length: fit for stderr and logs."""
    text = str(text).split("Traceback (most recent call last)")[0]
    text = _SECRETISH.sub("[REDACTED]", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _map_error(model: str, exc: BaseException) -> PreLLMError:
    if isinstance(exc, PreLLMError):
        return exc
    ll = litellm()
    cause = _short(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
    # litellm prefixes messages with its exception class; keep the provider's words.
    # Streaming wraps it twice, hence the loop.
    while (stripped := re.sub(r"^(litellm\.\w+|\w+Error):\s*", "", cause)) != cause:
        cause = stripped
    cause = re.sub(r"^\w+Exception - ", "", cause)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, ll.exceptions.Timeout | TimeoutError):
        return ProviderTimeoutError(model, f"timed out ({cause})", status_code=504)
    if isinstance(exc, ll.exceptions.AuthenticationError):
        return ProviderAuthError(model, f"authentication failed: {cause}", status_code=401)
    if isinstance(exc, ll.exceptions.RateLimitError):
        return RateLimitError(model, f"rate limited: {cause}", status_code=429)
    if isinstance(exc, ll.exceptions.BadRequestError) and "LLM Provider NOT provided" in cause:
        return ConfigError(
            f"unknown model {model!r}: use a litellm model string such as "
            f"'gpt-4o-mini', 'ollama/qwen2.5:3b', 'openai/<name>' or '{DEFAULT_LOCAL_MODEL}'"
        )
    invalid_messages = "Please ensure all" in cause and "valid OpenAI chat" in cause
    if invalid_messages or isinstance(
        exc, ll.exceptions.BadRequestError | ll.exceptions.UnsupportedParamsError
    ):
        # The request itself was refused (a field the model cannot take, a malformed
        # message): the caller's to fix, so a 400, not an upstream failure.
        return ProviderError(model, f"request refused: {cause}", status_code=400)
    return ProviderError(model, cause, status_code=status)


def _prepare(model: str) -> None:
    """Fail fast, with a fix, when the embedded model (``model``) cannot be used."""
    from .embedded import get_runtime

    get_runtime(model.removeprefix(LOCAL_PREFIX))


# OpenAI fields litellm accepts but does not send to OpenAI-compatible servers: they go
# in the request body as they are (``extra_body``), so the upstream really gets them.
_BODY_FIELDS = ("metadata", "verbosity", "user")
_OPENAI_COMPATIBLE = {"openai", "custom_openai", "azure", "hosted_vllm", "openai_like"}


@functools.lru_cache(maxsize=256)
def _provider(model: str) -> str | None:
    """litellm's provider for ``model`` (once per model: it is not cheap)."""
    try:
        return str(litellm().get_llm_provider(model=model)[1])
    except Exception:
        return None


def _call_kwargs(
    model: str, messages: list[dict[str, Any]], params: dict[str, Any]
) -> dict[str, Any]:
    kw = {k: v for k, v in params.items() if v is not None}
    kw.setdefault("timeout", 120.0)
    moved = {k: kw.pop(k) for k in _BODY_FIELDS if k in kw}
    if moved and _provider(model) in _OPENAI_COMPATIBLE:
        kw["extra_body"] = {**moved, **(kw.get("extra_body") or {})}
    else:
        kw.update(moved)
    return {"model": model, "messages": messages, **kw}


def _remaining(model: str, deadline: float | None, params: dict[str, Any]) -> float | None:
    """Seconds left before ``deadline``; a ProviderTimeoutError when none are.

    The call's own ``timeout`` is left as configured: ``_bounded`` holds the deadline.
    litellm keeps one client (and connection pool) per timeout value, so a timeout
    derived from the time left would open a new client and connection on every call.
    """
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProviderTimeoutError(model, "the request's deadline passed", status_code=504)
    return left


async def acomplete(
    model: str, messages: list[dict[str, Any]], *, deadline: float | None = None, **params: Any
) -> Completion:
    """One non-streamed chat completion. Raises a ProviderError subclass on failure.

    ``deadline`` (``time.monotonic()``) bounds the call, litellm's retries included.
    """
    if direct.active(model):  # our own model, called without litellm (see direct.py)
        return Completion(**await direct.acomplete(model, messages, deadline=deadline, **params))
    import asyncio

    ll = litellm()
    t0 = time.perf_counter()
    try:
        _remaining(model, deadline, params)
        if is_embedded(model):
            await asyncio.to_thread(_prepare, model)
        resp = await _bounded(
            model, ll.acompletion(**_call_kwargs(model, messages, params)), deadline
        )
    except Exception as exc:
        raise _map_error(model, exc) from exc
    ms = (time.perf_counter() - t0) * 1000
    choice = resp.choices[0]
    usage = getattr(resp, "usage", None)
    pt = int(getattr(usage, "prompt_tokens", 0) or 0)
    ct = int(getattr(usage, "completion_tokens", 0) or 0)
    choices = [_choice_dict(c) for c in resp.choices]
    return Completion(
        model=model,
        content=choice.message.content or "",
        tool_calls=choices[0]["message"].get("tool_calls") or [],
        choices=choices,
        prompt_tokens=pt,
        completion_tokens=ct,
        # litellm already priced the response; None when its table does not know the model.
        cost_usd=0.0
        if is_free(model)
        else (getattr(resp, "_hidden_params", {}) or {}).get("response_cost"),
        finish_reason=choice.finish_reason,
        ms=ms,
        usage_estimated=usage is None,
    )


def _choice_dict(choice: Any) -> dict[str, Any]:
    """One choice of a litellm response in OpenAI's shape (only the fields that are set)."""
    message = choice.message
    msg: dict[str, Any] = {"role": "assistant", "content": message.content}
    calls = getattr(message, "tool_calls", None)
    if calls:
        msg["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments or ""},
            }
            for c in calls
        ]
    function_call = getattr(message, "function_call", None)
    if function_call:
        msg["function_call"] = {"name": function_call.name, "arguments": function_call.arguments}
    if refusal := getattr(message, "refusal", None):
        msg["refusal"] = refusal
    out: dict[str, Any] = {
        "index": getattr(choice, "index", 0),
        "message": msg,
        "finish_reason": choice.finish_reason,
    }
    logprobs = getattr(choice, "logprobs", None)
    if logprobs:
        out["logprobs"] = logprobs if isinstance(logprobs, dict) else logprobs.model_dump()
    return out


class _Assembled:
    """What a stream has delivered so far: text, tool calls by index, usage, finish."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage: Any = None
        self.finish: str | None = None

    def take(self, chunk: Any) -> list[str | ToolCallDelta]:
        """The text and tool-call pieces of one chunk, remembered for the end."""
        if getattr(chunk, "usage", None):
            self.usage = chunk.usage
        if not chunk.choices:
            return []
        ch = chunk.choices[0]
        self.finish = ch.finish_reason or self.finish
        out: list[str | ToolCallDelta] = []
        if text := getattr(ch.delta, "content", None):
            self.parts.append(text)
            out.append(text)
        for tc in getattr(ch.delta, "tool_calls", None) or []:
            index = getattr(tc, "index", 0) or 0
            fn = getattr(tc, "function", None)
            name, args = getattr(fn, "name", None), getattr(fn, "arguments", None) or ""
            call = self.calls.setdefault(
                index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            call["id"] = tc.id or call["id"]
            call["function"]["name"] = name or call["function"]["name"]
            call["function"]["arguments"] += args
            out.append(ToolCallDelta(index=index, id=tc.id, name=name, arguments=args))
        return out

    def tool_calls(self) -> list[dict[str, Any]]:
        return [self.calls[i] for i in sorted(self.calls)]


async def astream(
    model: str, messages: list[dict[str, Any]], *, deadline: float | None = None, **params: Any
) -> AsyncGenerator[str | ToolCallDelta | Completion, None]:
    """Stream a chat completion: text deltas and tool-call pieces as they arrive, then one
    ``Completion`` with the tool calls assembled.

    ``deadline`` bounds the whole stream. When the stream ends early (the caller
    stops, the upstream cuts it), the ``Completion`` is never yielded: use
    ``partial()`` to account for what was received.
    """
    if direct.active(model):  # our own model, called without litellm (see direct.py)
        async for piece in direct.astream(model, messages, deadline=deadline, **params):
            yield Completion(**piece) if isinstance(piece, dict) else piece
        return
    import asyncio

    ll = litellm()
    t0 = time.perf_counter()
    got = _Assembled()
    try:
        _remaining(model, deadline, params)
        if is_embedded(model):
            await asyncio.to_thread(_prepare, model)
        call = ll.acompletion(
            **_call_kwargs(model, messages, params),
            stream=True,
            stream_options={"include_usage": True},
        )
        stream = await _bounded(model, call, deadline)
        async for chunk in _chunks(model, stream, deadline):
            for piece in got.take(chunk):
                yield piece
    except Exception as exc:
        raise _map_error(model, exc) from exc
    yield _streamed_completion(ll, model, messages, got, t0)


def _streamed_completion(
    ll: Any, model: str, messages: list[dict[str, Any]], got: _Assembled, t0: float
) -> Completion:
    content, usage = "".join(got.parts), got.usage
    estimated = usage is None or not getattr(usage, "prompt_tokens", 0)
    if estimated:
        pt = ll.token_counter(model=model, messages=messages)
        ct = ll.token_counter(model=model, text=content) if content else 0
    else:
        pt, ct = int(usage.prompt_tokens), int(usage.completion_tokens or 0)
    calls = got.tool_calls()
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = calls
    return Completion(
        model=model,
        content=content,
        prompt_tokens=pt,
        completion_tokens=ct,
        cost_usd=cost_of(model, pt, ct),
        finish_reason=got.finish,
        ms=(time.perf_counter() - t0) * 1000,
        usage_estimated=estimated,
        tool_calls=calls,
        choices=[{"index": 0, "message": message, "finish_reason": got.finish}],
    )


async def _bounded(model: str, awaitable: Any, deadline: float | None) -> Any:
    import asyncio

    if deadline is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, max(deadline - time.monotonic(), 0.001))
    except TimeoutError:
        raise ProviderTimeoutError(
            model, "timed out (the request's deadline)", status_code=504
        ) from None


async def _chunks(model: str, stream: Any, deadline: float | None) -> AsyncIterator[Any]:
    """The stream's chunks, each awaited no later than ``deadline``."""
    iterator = stream.__aiter__()
    while True:
        try:
            chunk = await _bounded(model, iterator.__anext__(), deadline)
        except StopAsyncIteration:
            return
        yield chunk


def partial(model: str, messages: list[dict[str, Any]], text: str, t0: float) -> Completion:
    """A stream cut short, counted: the prompt and the text received, priced as litellm would."""
    if direct.active(model):  # our own model, called without litellm (see direct.py)
        return Completion(**direct.partial(model, messages, text, t0))
    ll = litellm()
    try:
        pt = int(ll.token_counter(model=model, messages=messages))
        ct = int(ll.token_counter(model=model, text=text)) if text else 0
    except Exception:  # an unknown tokenizer: ~4 characters a token
        pt = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1
        ct = len(text) // 4
    return Completion(
        model=model,
        content=text,
        prompt_tokens=pt,
        completion_tokens=ct,
        cost_usd=cost_of(model, pt, ct),
        finish_reason="cut",
        ms=(time.perf_counter() - t0) * 1000,
        usage_estimated=True,
    )


async def ping(model: str, timeout: float) -> str | None:
    """A real 1-token call: None if the model answered, else the one-line cause.

    The only honest answer to "is it reachable with these credentials".
    """
    try:
        await acomplete(
            model,
            [{"role": "user", "content": "ping"}],
            max_tokens=1,
            timeout=timeout,
            num_retries=0,
        )
    except PreLLMError as exc:
        return str(exc)
    return None


async def check_model(model: str, timeout: float) -> dict[str, Any]:
    """Can ``model`` answer now? ``{"model", "ok", "detail"}``, bounded by ``timeout``.

    The test provider always can; the embedded model is loaded (seconds, the first
    time); anything else gets a real 1-token call.
    """
    import asyncio as _asyncio

    if is_free(model) and not is_embedded(model):
        return {"model": model, "ok": True, "detail": "test provider"}
    if is_embedded(model):
        from .embedded import get_runtime

        try:
            await _asyncio.wait_for(
                _asyncio.to_thread(get_runtime, model.removeprefix(LOCAL_PREFIX)),
                timeout=max(timeout, 60),
            )
        except (PreLLMError, TimeoutError) as exc:
            return {"model": model, "ok": False, "detail": str(exc) or "timed out loading"}
        return {"model": model, "ok": True, "detail": "embedded model loaded"}
    cause = await ping(model, timeout)
    return {"model": model, "ok": cause is None, "detail": cause or "reachable"}


_params: frozenset[str] | None = None

# completion() keywords known without importing litellm, so that checking a CLI call's
# --max-tokens or --temperature does not cost the import (tests check they are in the list).
COMMON_PARAMS = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "metadata",
        "timeout",
        "num_retries",
    }
)


class _KnownParams(AbstractSet[str]):
    """litellm's completion() keywords; the common ones answered without importing it."""

    def __contains__(self, name: object) -> bool:
        return name in COMMON_PARAMS or name in _all_completion_params()

    def __iter__(self) -> Iterator[str]:
        return iter(_all_completion_params())

    def __len__(self) -> int:
        return len(_all_completion_params())


def completion_params() -> AbstractSet[str]:
    """Every keyword litellm's ``completion()`` accepts: its own arguments and litellm's list."""
    return _KnownParams()


def _all_completion_params() -> frozenset[str]:
    global _params
    if _params is None:
        import inspect

        ll = litellm()
        from litellm.types.utils import all_litellm_params

        named = set(inspect.signature(ll.completion).parameters) - {"model", "messages", "kwargs"}
        # Read by completion() from its kwargs, yet missing from litellm's own list.
        read_from_kwargs = {"drop_params", "additional_drop_params"}
        _params = frozenset(named | set(all_litellm_params) | read_from_kwargs) - {"stream"}
    return _params


async def araw(
    kind: str, model: str, deadline: float | None = None, **params: Any
) -> dict[str, Any]:
    """A text completion (``kind="text"``) or embeddings (``kind="embedding"``) call,
    as the provider answered it (OpenAI's shape), with litellm's cost in ``_cost_usd``."""
    ll = litellm()
    fn = ll.atext_completion if kind == "text" else ll.aembedding
    try:
        _remaining(model, deadline, params)
        call = fn(model=model, **{k: v for k, v in params.items() if v is not None})
        resp = await _bounded(model, call, deadline)
    except Exception as exc:
        raise _map_error(model, exc) from exc
    body: dict[str, Any] = resp.model_dump() if hasattr(resp, "model_dump") else dict(resp)
    hidden = getattr(resp, "_hidden_params", {}) or {}
    body["_cost_usd"] = 0.0 if is_free(model) else hidden.get("response_cost")
    return body
