"""The embedded llama.cpp runtime (xllamacpp), served to litellm as the ``local/`` provider.

One ``xllamacpp.Server`` per GGUF file and process, loaded on first use. Calls
are serialised with a lock: llama.cpp runs one slot here, and two requests
interleaving on two CPU cores would only make both slower.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from ..errors import ConfigError, ProviderError
from ..observability.logging import get_logger
from .model_files import INSTALL_HINT, resolve_gguf

log = get_logger("prellm.providers.embedded")

# OpenAI request fields llama.cpp's chat endpoint understands.
_PASSED = {
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
}
_FENCED = re.compile(r"^\s*(?:```(?:json)?\s*)?(\{.*\})\s*(?:```)?\s*$", re.S)


def tool_call_in_text(text: str, tools: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """A small model often writes a tool call as a JSON object in text instead of the
    template's tool-call markup: ``{"name": <an offered tool>, "arguments": {...}}``
    (fenced or not) becomes a real call; anything else stays text."""
    if not tools or not (m := _FENCED.match(text or "")):
        return None
    try:
        obj = json.loads(m.group(1))
    except ValueError:
        return None
    names = {t.get("function", {}).get("name") for t in tools if isinstance(t, dict)}
    if not isinstance(obj, dict) or obj.get("name") not in names:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    return {
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {
            "name": obj["name"],
            "arguments": args if isinstance(args, str) else json.dumps(args),
        },
    }


class EmbeddedRuntime:
    """A loaded GGUF model and the lock that serialises access to it."""

    def __init__(self, path: Path) -> None:
        try:
            import xllamacpp as xlc
        except ImportError:
            raise ConfigError(
                f"the embedded runtime (xllamacpp) is not installed; {INSTALL_HINT}"
            ) from None
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = int(os.environ.get("PRELLM_LOCAL_CTX", "8192"))
        params.n_parallel = 1
        threads = int(os.environ.get("PRELLM_LOCAL_THREADS", str(os.cpu_count() or 2)))
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.warmup = False
        params.verbosity = -1
        # xllamacpp also opens an HTTP listener on 127.0.0.1; a random key keeps
        # other local processes from using it behind our back.
        params.api_keys = [secrets.token_urlsafe(24)]
        t0 = time.perf_counter()
        try:
            self.server = xlc.Server(params)
        except Exception as exc:  # llama.cpp reports load failures as plain exceptions
            raise ConfigError(f"could not load GGUF model {path}: {exc}") from None
        self.path = path
        self.load_ms = (time.perf_counter() - t0) * 1000
        self.lock = threading.Lock()
        log.info("loaded %s in %.0f ms", path.name, self.load_ms)

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            out = self.server.handle_chat_completions(request)
        if not isinstance(out, dict) or "choices" not in out:
            raise ProviderError(f"local/{self.path.name}", _error_text(out))
        return out

    def stream(self, request: dict[str, Any], on_chunk: Any) -> None:
        """Run a streamed request; ``on_chunk`` returns True to stop generation."""
        with self.lock:
            self.server.handle_chat_completions(
                {**request, "stream": True, "stream_options": {"include_usage": True}}, on_chunk
            )


def _error_text(out: Any) -> str:
    if isinstance(out, dict):
        err = out.get("error", out)
        if isinstance(err, dict):
            return str(err.get("message") or err)
    return f"unexpected response from llama.cpp: {str(out)[:200]}"


_runtimes: dict[Path, EmbeddedRuntime] = {}
_runtimes_lock = threading.Lock()
_by_name: dict[str, EmbeddedRuntime] = {}


def get_runtime(model: str) -> EmbeddedRuntime:
    """The runtime for ``model`` (the part after ``local/``), loading it once per process.

    A name already seen skips resolving (stat, hash marker) again: this is on every call.
    """
    if rt := _by_name.get(model):
        return rt
    path = resolve_gguf(model)
    with _runtimes_lock:
        rt = _runtimes.get(path)
        if rt is None:
            rt = _runtimes[path] = EmbeddedRuntime(path)
        _by_name[model] = rt
        return rt


def _request(messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> dict[str, Any]:
    req: dict[str, Any] = {"messages": messages}
    req.update({k: v for k, v in optional_params.items() if k in _PASSED and v is not None})
    return req


class EmbeddedLLM(CustomLLM):
    """litellm handler for ``local/<name-or-path>`` models."""

    def _fill(
        self, model_response: ModelResponse, out: dict[str, Any], tools: Any = None
    ) -> ModelResponse:
        from litellm.types.utils import ChatCompletionMessageToolCall

        choice = out["choices"][0]
        message = model_response.choices[0].message  # type: ignore[union-attr]
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

    def completion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ):  # type: ignore[override]  # noqa: E501
        out = get_runtime(model).complete(_request(messages, optional_params))
        return self._fill(model_response, out, optional_params.get("tools"))

    async def acompletion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ):  # type: ignore[override]  # noqa: E501
        rt = await asyncio.to_thread(get_runtime, model)
        out = await asyncio.to_thread(rt.complete, _request(messages, optional_params))
        return self._fill(model_response, out, optional_params.get("tools"))

    def streaming(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ) -> Iterator[GenericStreamingChunk]:  # type: ignore[override]  # noqa: E501
        # Generation runs in a thread; chunks are yielded as llama.cpp produces them.
        import queue as queue_mod

        rt = get_runtime(model)
        chunks: queue_mod.Queue[Any] = queue_mod.Queue()
        stop = threading.Event()
        done = object()

        def on_chunk(chunk: Any) -> bool:
            chunks.put(chunk)
            return stop.is_set()  # True stops generation: the consumer went away

        def run() -> None:
            try:
                rt.stream(_request(messages, optional_params), on_chunk)
                chunks.put(done)
            except BaseException as exc:  # handed to the consumer, not lost
                chunks.put(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        try:
            while (item := chunks.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                if "error" in item and "choices" not in item:
                    raise ProviderError(f"local/{model}", _error_text(item))
                if g := _generic(item):
                    yield g
        finally:
            stop.set()
            worker.join()

    # litellm declares the base as a coroutine returning an iterator; ours is an async generator.
    async def astreaming(  # type: ignore[override]
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ) -> AsyncIterator[GenericStreamingChunk]:
        rt = await asyncio.to_thread(get_runtime, model)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return stop.is_set()  # True tells llama.cpp to stop generating

        def run() -> None:
            try:
                rt.stream(_request(messages, optional_params), on_chunk)
                loop.call_soon_threadsafe(queue.put_nowait, done)
            except BaseException as exc:  # handed to the consumer, not lost
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = loop.run_in_executor(None, run)
        try:
            while True:
                item = await queue.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                if "error" in item and "choices" not in item:
                    raise ProviderError(f"local/{model}", _error_text(item))
                if g := _generic(item):
                    yield g
        finally:
            stop.set()  # the consumer went away early: let generation end
            await worker


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
