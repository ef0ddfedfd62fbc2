"""preLLM's own models (``local/``, ``test/``) called without litellm.

Off by default: the library and the server call every model through litellm (one
path, litellm's parameter handling and callbacks). The CLI turns it on for its run
(``enable``), so a request whose models are all ours never imports litellm, and
``local/`` calls can go to the background model host (a ``LocalBackend``) instead
of loading the GGUF in every process. Remote models keep going through litellm.

Both paths return the same thing: ``prellm.providers`` builds its ``Completion``
from the fields returned here (this module does not import the package, so that
the package can import it).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

from ..errors import PreLLMError, ProviderError, ProviderTimeoutError
from ..models import ToolCallDelta
from .resolve import LOCAL_PREFIX, TEST_PREFIX, is_embedded, is_free

OnChunk = Callable[[dict[str, Any]], bool]  # returns True to stop generating

# OpenAI request fields our models understand (llama.cpp's chat endpoint; the test model).
PASSED = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "response_format",
        "presence_penalty",
        "frequency_penalty",
        "n_predict",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
    }
)


class LocalBackend(Protocol):
    """Where calls to our models run: this process, or the background model host."""

    def serves(self, model: str) -> bool: ...

    def complete(
        self, model: str, request: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]: ...

    def stream(
        self, model: str, request: dict[str, Any], on_chunk: OnChunk, timeout: float | None = None
    ) -> None: ...


# --- serving a request (in this process, or in the host) ------------------------------


def serve_complete(model: str, request: dict[str, Any]) -> dict[str, Any]:
    """One OpenAI-shaped chat completion from one of our models, in this process."""
    if is_embedded(model):
        from .embedded import get_runtime

        return get_runtime(model.removeprefix(LOCAL_PREFIX)).complete(request)
    if model.startswith(TEST_PREFIX):
        return _test_response(model.removeprefix(TEST_PREFIX), request)
    raise ProviderError(model, "not one of preLLM's own models")


def serve_stream(model: str, request: dict[str, Any], on_chunk: OnChunk) -> None:
    """Stream OpenAI-shaped chunks from one of our models to ``on_chunk``, in this process."""
    if is_embedded(model):
        from .embedded import get_runtime

        get_runtime(model.removeprefix(LOCAL_PREFIX)).stream(request, on_chunk)
        return
    if not model.startswith(TEST_PREFIX):
        raise ProviderError(model, "not one of preLLM's own models")
    for chunk in _test_chunks(model.removeprefix(TEST_PREFIX), request):
        if on_chunk(chunk):
            return


def _test_reply(name: str, request: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]], str]:
    """(content, tool calls, text counted for usage) as the litellm handler makes them."""
    from .testing import _reply, _tool_calls

    messages = request["messages"]
    reply = _reply(name, messages, {k: v for k, v in request.items() if k != "messages"})
    if isinstance(reply, str):
        return reply, [], reply + "[]"
    calls = _tool_calls(reply)
    content = reply.get("content")
    return content, calls, (content or "") + json.dumps(calls)


def _usage_of(messages: list[dict[str, Any]], counted: str) -> dict[str, int]:
    from .testing import _usage

    p, c = _usage(messages, counted)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _test_response(name: str, request: dict[str, Any]) -> dict[str, Any]:
    content, calls, counted = _test_reply(name, request)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return {
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": _usage_of(request["messages"], counted),
    }


def _test_chunks(name: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    content, calls, counted = _test_reply(name, request)
    words = content.split(" ") if content else []
    out = [_delta({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
    out += [_delta({"tool_calls": [{**c, "index": i}]}) for i, c in enumerate(calls)]
    out.append(_delta({}, "tool_calls" if calls else "stop"))
    out.append({"choices": [], "usage": _usage_of(request["messages"], counted)})
    return out


def serve_complete_stoppable(
    model: str, request: dict[str, Any], abandoned: Callable[[], bool]
) -> dict[str, Any]:
    """``serve_complete``, generated as a stream so that it stops early once
    ``abandoned()`` (the caller went away): for a process serving others."""
    if not is_embedded(model):
        return serve_complete(model, request)
    from .embedded import one_line_json

    return one_line_json(request, lambda r: _stoppable(model, r, abandoned))


def _stoppable(
    model: str, request: dict[str, Any], abandoned: Callable[[], bool]
) -> dict[str, Any]:
    got = _Assembled()

    def on_chunk(chunk: dict[str, Any]) -> bool:
        if "error" in chunk and "choices" not in chunk:
            raise ProviderError(model, _error_text(chunk))
        got.take(chunk)
        return abandoned()

    serve_stream(model, request, on_chunk)
    return got.response()


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class InProcess:
    """Our models in this process: the embedded runtime loaded here, the test model."""

    def serves(self, model: str) -> bool:
        return is_free(model)

    def complete(
        self, model: str, request: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        return serve_complete(model, request)

    def stream(
        self, model: str, request: dict[str, Any], on_chunk: OnChunk, timeout: float | None = None
    ) -> None:
        serve_stream(model, request, on_chunk)


# --- the switch ------------------------------------------------------------------------

_IN_PROCESS = InProcess()
_state: dict[str, Any] = {"on": False, "backend": None}


def enable(backend: LocalBackend | None = None) -> Callable[[], None]:
    """Call our models directly from now on (``backend`` first, where it serves the model);
    returns the function that restores the previous setting."""
    before = dict(_state)
    _state.update(on=True, backend=backend)

    def restore() -> None:
        _state.update(before)

    return restore


def active(model: str) -> bool:
    """Is a call to ``model`` made here rather than through litellm?"""
    return bool(_state["on"]) and is_free(model)


def _route(model: str) -> LocalBackend:
    backend: LocalBackend | None = _state["backend"]
    return backend if backend is not None and backend.serves(model) else _IN_PROCESS


def request_of(messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI request our models get: the messages and the fields they understand."""
    req: dict[str, Any] = {"messages": messages}
    req.update({k: v for k, v in params.items() if k in PASSED and v is not None})
    return req


# --- results in Completion's fields ----------------------------------------------------


def _calls(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.get("id") or "",
            "type": "function",
            "function": {
                "name": (c.get("function") or {}).get("name") or "",
                "arguments": (c.get("function") or {}).get("arguments") or "",
            },
        }
        for c in raw
    ]


def completion_fields(model: str, out: dict[str, Any], tools: Any, ms: float) -> dict[str, Any]:
    """``Completion`` keyword arguments for one OpenAI-shaped response of our models."""
    choice = out["choices"][0]
    content = choice["message"].get("content")
    calls = _calls(choice["message"].get("tool_calls") or [])
    finish = choice.get("finish_reason") or "stop"
    if is_embedded(model):  # as the litellm handler does: a JSON call in text is a call
        from .embedded import tool_call_in_text

        content = content or ""
        if not calls and (found := tool_call_in_text(content, tools)):
            calls, content = [found], ""
    if calls:
        finish = "tool_calls"
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    usage = out.get("usage")
    return {
        "model": model,
        "content": content or "",
        "prompt_tokens": int((usage or {}).get("prompt_tokens") or 0),
        "completion_tokens": int((usage or {}).get("completion_tokens") or 0),
        "cost_usd": 0.0,
        "finish_reason": finish,
        "ms": ms,
        "usage_estimated": usage is None,
        "tool_calls": calls,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


def _estimate(messages: list[dict[str, Any]], text: str) -> tuple[int, int]:
    """Token counts without a tokenizer: about 4 characters a token."""
    prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1
    return prompt, len(text) // 4


def partial(model: str, messages: list[dict[str, Any]], text: str, t0: float) -> dict[str, Any]:
    """A stream cut short, counted (estimated), as ``Completion`` fields."""
    pt, ct = _estimate(messages, text)
    return {
        "model": model,
        "content": text,
        "prompt_tokens": pt,
        "completion_tokens": ct,
        "cost_usd": 0.0,
        "finish_reason": "cut",
        "ms": (time.perf_counter() - t0) * 1000,
        "usage_estimated": True,
    }


# --- calls -----------------------------------------------------------------------------


def _deadline(deadline: float | None, params: dict[str, Any]) -> float | None:
    """The earlier of the request's deadline and the call's own timeout."""
    timeout = params.get("timeout")
    own = time.monotonic() + float(timeout) if timeout else None
    return min((d for d in (deadline, own) if d is not None), default=None)


def _left(until: float | None) -> float | None:
    """Seconds a backend may take (it drops the call after them), if bounded."""
    return None if until is None else max(until - time.monotonic(), 0.001)


async def _bounded(model: str, awaitable: Any, deadline: float | None) -> Any:
    if deadline is None:
        return await awaitable
    left = deadline - time.monotonic()
    if left <= 0:
        awaitable.close()  # a coroutine never started: no "never awaited" warning
        raise ProviderTimeoutError(model, "the request's deadline passed", status_code=504)
    try:
        return await asyncio.wait_for(awaitable, left)
    except TimeoutError:
        raise ProviderTimeoutError(
            model, "timed out (the request's deadline)", status_code=504
        ) from None


def _failure(model: str, exc: BaseException) -> BaseException:
    """What the consumer raises for a failure in the generating thread: our errors and
    interrupts (Ctrl-C, exit) as they are, anything else as the provider's error."""
    if isinstance(exc, (PreLLMError, KeyboardInterrupt, SystemExit)):
        return exc
    return ProviderError(model, f"{type(exc).__name__}: {str(exc)[:200]}")


async def acomplete(
    model: str, messages: list[dict[str, Any]], *, deadline: float | None = None, **params: Any
) -> dict[str, Any]:
    """One non-streamed call, as ``Completion`` fields."""
    t0 = time.perf_counter()
    request, backend = request_of(messages, params), _route(model)
    until = _deadline(deadline, params)
    try:
        call = asyncio.to_thread(backend.complete, model, request, _left(until))
        out = await _bounded(model, call, until)
    except Exception as exc:
        raise _failure(model, exc) from exc
    return completion_fields(model, out, params.get("tools"), (time.perf_counter() - t0) * 1000)


class _Assembled:
    """What a stream of OpenAI chunk dicts has delivered so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.finish: str | None = None

    def take(self, chunk: dict[str, Any]) -> list[str | ToolCallDelta]:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if not chunk.get("choices"):
            return []
        ch = chunk["choices"][0]
        self.finish = ch.get("finish_reason") or self.finish
        delta = ch.get("delta") or {}
        out: list[str | ToolCallDelta] = []
        if text := delta.get("content"):
            self.parts.append(text)
            out.append(text)
        for tc in delta.get("tool_calls") or []:
            index = int(tc.get("index") or 0)
            fn = tc.get("function") or {}
            name, args = fn.get("name"), fn.get("arguments") or ""
            call = self.calls.setdefault(
                index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            call["id"] = tc.get("id") or call["id"]
            call["function"]["name"] = name or call["function"]["name"]
            call["function"]["arguments"] += args
            out.append(ToolCallDelta(index=index, id=tc.get("id"), name=name, arguments=args))
        return out

    def response(self) -> dict[str, Any]:
        """The stream as one OpenAI-shaped (non-streamed) response."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.parts)}
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        return {
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish or "stop"}],
            "usage": self.usage,
        }

    def fields(self, model: str, messages: list[dict[str, Any]], t0: float) -> dict[str, Any]:
        content, usage = "".join(self.parts), self.usage or {}
        estimated = not usage.get("prompt_tokens")
        if estimated:
            pt, ct = _estimate(messages, content)
        else:
            pt, ct = int(usage["prompt_tokens"]), int(usage.get("completion_tokens") or 0)
        calls = [self.calls[i] for i in sorted(self.calls)]
        message: dict[str, Any] = {"role": "assistant", "content": content or None}
        if calls:
            message["tool_calls"] = calls
        return {
            "model": model,
            "content": content,
            "prompt_tokens": pt,
            "completion_tokens": ct,
            "cost_usd": 0.0,
            "finish_reason": self.finish,
            "ms": (time.perf_counter() - t0) * 1000,
            "usage_estimated": estimated,
            "tool_calls": calls,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish}],
        }


async def astream(
    model: str, messages: list[dict[str, Any]], *, deadline: float | None = None, **params: Any
) -> AsyncGenerator[str | ToolCallDelta | dict[str, Any], None]:
    """Text and tool-call pieces as they come, then the ``Completion`` fields (a dict)."""
    t0 = time.perf_counter()
    request, backend = request_of(messages, params), _route(model)
    until = _deadline(deadline, params)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop, done, got = threading.Event(), object(), _Assembled()

    def hand_over(item: Any) -> bool:
        """Queue ``item`` for the consumer; False once its event loop is gone."""
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            return False
        return True

    def on_chunk(chunk: dict[str, Any]) -> bool:
        # True: the consumer went away, stop generating
        return not hand_over(chunk) or stop.is_set()

    def run() -> None:
        try:
            backend.stream(model, request, on_chunk, _left(until))
            hand_over(done)
        except BaseException as exc:  # handed to the consumer, not lost
            hand_over(exc)

    if until is not None and until <= time.monotonic():  # no model started for nothing
        raise ProviderTimeoutError(model, "the request's deadline passed", status_code=504)
    loop.run_in_executor(None, run)
    try:
        while (item := await _bounded(model, queue.get(), until)) is not done:
            if isinstance(item, BaseException):
                raise _failure(model, item)
            if "error" in item and "choices" not in item:
                raise ProviderError(model, _error_text(item))
            for piece in got.take(item):
                yield piece
    finally:
        stop.set()
    yield got.fields(model, messages, t0)


def _error_text(item: dict[str, Any]) -> str:
    err = item.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or err)[:300]
    return str(err)[:300]
