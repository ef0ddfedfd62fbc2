"""The litellm handler for ``local/`` models, over the runtime in ``embedded``.

Imported only when litellm is (``prellm.providers.litellm()`` registers it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from ..errors import ProviderError
from .direct import request_of
from .embedded import _error_text, get_runtime, tool_call_in_text
from .litellm_handler import Call, Handler


class EmbeddedLLM(Handler):
    """litellm handler for ``local/<name-or-path>`` models."""

    def _fill(
        self, model_response: ModelResponse, out: dict[str, Any], tools: Any = None
    ) -> ModelResponse:
        from litellm.types.utils import ChatCompletionMessageToolCall

        choice = out["choices"][0]
        message = model_response.choices[0].message
        content = choice["message"].get("content") or ""
        calls = choice["message"].get("tool_calls") or []
        if not calls and (found := tool_call_in_text(content, tools)):
            calls, content = [found], ""
        message.content = content
        model_response.choices[0].finish_reason = choice.get("finish_reason") or "stop"
        if calls:
            message.tool_calls = [ChatCompletionMessageToolCall(**c) for c in calls]
            model_response.choices[0].finish_reason = "tool_calls"
        u = out.get("usage") or {}
        model_response.usage = Usage(  # type: ignore[attr-defined]
            prompt_tokens=u.get("prompt_tokens", 0),
            completion_tokens=u.get("completion_tokens", 0),
            total_tokens=u.get("total_tokens", 0),
        )
        return model_response

    def answer(self, call: Call) -> ModelResponse:
        out = get_runtime(call.model).complete(request_of(call.messages, call.params))
        return self._fill(call.response, out, call.params.get("tools"))

    def chunks(self, call: Call) -> Iterator[GenericStreamingChunk]:
        # Generation runs in a thread; chunks are yielded as llama.cpp produces them.
        import queue as queue_mod

        rt = get_runtime(call.model)
        chunks: queue_mod.Queue[Any] = queue_mod.Queue()
        stop = threading.Event()
        done = object()

        def on_chunk(chunk: Any) -> bool:
            chunks.put(chunk)
            return stop.is_set()  # True stops generation: the consumer went away

        def run() -> None:
            try:
                rt.stream(request_of(call.messages, call.params), on_chunk)
                chunks.put(done)
            except BaseException as exc:  # handed to the consumer, not lost
                chunks.put(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        try:
            while (item := chunks.get()) is not done:
                if g := _checked(call.model, item):
                    yield g
        finally:
            stop.set()
            worker.join()

    async def achunks(self, call: Call) -> AsyncIterator[GenericStreamingChunk]:
        rt = await asyncio.to_thread(get_runtime, call.model)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return stop.is_set()  # True tells llama.cpp to stop generating

        def run() -> None:
            try:
                rt.stream(request_of(call.messages, call.params), on_chunk)
                loop.call_soon_threadsafe(queue.put_nowait, done)
            except BaseException as exc:  # handed to the consumer, not lost
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = loop.run_in_executor(None, run)
        try:
            while (item := await queue.get()) is not done:
                if g := _checked(call.model, item):
                    yield g
        finally:
            stop.set()  # the consumer went away early: let generation end
            await worker


def _checked(model: str, item: Any) -> GenericStreamingChunk | None:
    """One item from the generating thread: its error raised, else its generic chunk."""
    if isinstance(item, BaseException):
        raise item
    if "error" in item and "choices" not in item:
        raise ProviderError(f"local/{model}", _error_text(item))
    return _generic(item)


def _generic(chunk: dict[str, Any]) -> GenericStreamingChunk | None:
    """Translate one llama.cpp SSE chunk into litellm's generic chunk."""
    usage = chunk.get("usage")
    choices = chunk.get("choices") or []
    if not choices:
        if not usage:
            return None
        return {
            "text": "",
            "is_finished": True,
            "finish_reason": "stop",
            "index": 0,
            "tool_use": None,
            "usage": {
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
        }
    ch = choices[0]
    text = (ch.get("delta") or {}).get("content") or ""
    finish = ch.get("finish_reason")
    if not text and not finish:
        return None
    # A finish chunk is not the end: llama.cpp sends usage in a chunk after it.
    return {
        "text": text,
        "is_finished": False,
        "finish_reason": finish or "",
        "index": 0,
        "tool_use": None,
        "usage": None,
    }
