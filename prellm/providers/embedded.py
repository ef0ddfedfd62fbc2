"""The embedded llama.cpp runtime (xllamacpp) behind the ``local/`` provider.

One ``xllamacpp.Server`` per GGUF file and process, loaded on first use. Calls
are serialised with a lock: llama.cpp runs one slot here, and two requests
interleaving on two CPU cores would only make both slower.

This module does not import litellm: the CLI calls the runtime directly (in
process, or in the background model host, ``prellm.host``). The litellm handler,
``EmbeddedLLM``, lives in ``embedded_litellm``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ProviderError
from ..observability.logging import get_logger
from .model_files import INSTALL_HINT, resolve_gguf

log = get_logger("prellm.providers.embedded")

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


# One line, with the separators ``json.dumps`` writes (the style models have read most).
# Made to write ``{"a":1}`` instead, the 1.5B model picked other labels (our own
# 45-request intent set: accuracy 0.69 → 0.53); on one line with these separators it
# kept 43 of 45 choices (0.69 → 0.69) with 27% fewer output tokens.
# ``lenient``: keywords and formats llguidance does not know are ignored, as llama.cpp's
# own grammar does, instead of the whole schema going unenforced.
_ONE_LINE = {
    "whitespace_flexible": False,
    "key_separator": ": ",
    "item_separator": ", ",
    "lenient": True,
}


def compact_json(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` with its JSON-schema ``response_format`` turned into a grammar that
    allows one-line JSON only.

    llama.cpp's own schema grammar lets the model indent: a 1.5B model then spends a
    quarter of its output tokens on newlines and indentation. llguidance (built into
    xllamacpp) takes the schema with ``whitespace_flexible: false`` instead.
    """
    rf = request.get("response_format")
    if not isinstance(rf, dict) or rf.get("type") != "json_schema" or request.get("tools"):
        return request
    schema = (rf.get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict):
        return request
    import xllamacpp

    grammar = xllamacpp.json_schema_to_grammar({**schema, "x-guidance": _ONE_LINE})
    out = {k: v for k, v in request.items() if k != "response_format"}
    out["grammar"] = grammar
    return out


class EmbeddedRuntime:
    """A loaded GGUF model and the lock that serialises access to it."""

    def __init__(self, path: Path, *, cache_ram_mib: int | None = None) -> None:
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
        # KV prefix reuse: the slot keeps the last prompt's cache (cache_prompt), and
        # llama.cpp keeps earlier prompts in RAM up to this budget (its default is 8 GiB).
        params.cache_prompt = True
        if cache_ram_mib is not None:
            params.cache_ram_mib = cache_ram_mib
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
        return one_line_json(request, self._complete)

    def _complete(self, request: dict[str, Any]) -> dict[str, Any]:
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


def one_line_json(
    request: dict[str, Any], run: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """``run(request)``, asking for one-line JSON where ``request`` asks for a schema.

    Should llguidance fail to compile the schema, it leaves the reply free: the request
    is then run as it came, under llama.cpp's own (indented) schema grammar.
    """
    compact = compact_json(request)
    out = run(compact)
    if compact is request or _json_reply(out):
        return out
    log.info("one-line JSON grammar not applied; using llama.cpp's schema grammar")
    return run(request)


def _json_reply(out: Any) -> bool:
    """A reply that is JSON (a schema may ask for any value), or was cut at its token limit
    (asking again would be cut as well); an error answer counts too, so that it is
    reported, not retried."""
    try:
        choice = out["choices"][0]
        if choice.get("finish_reason") != "length":
            json.loads(choice["message"]["content"])
        return True
    except (KeyError, IndexError, TypeError):
        return True
    except ValueError:
        return False


def _error_text(out: Any) -> str:
    if isinstance(out, dict):
        err = out.get("error", out)
        if isinstance(err, dict):
            return str(err.get("message") or err)
    return f"unexpected response from llama.cpp: {str(out)[:200]}"


_runtimes: dict[Path, EmbeddedRuntime] = {}
_runtimes_lock = threading.Lock()
_by_name: dict[str, EmbeddedRuntime] = {}
_cache_ram_mib: int | None = None  # llama.cpp's default unless a long-lived process sets one


def set_prompt_cache(mib: int) -> None:
    """Bound the RAM llama.cpp keeps earlier prompts' KV cache in (for models loaded later)."""
    global _cache_ram_mib
    _cache_ram_mib = mib


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
            rt = _runtimes[path] = EmbeddedRuntime(path, cache_ram_mib=_cache_ram_mib)
        _by_name[model] = rt
        return rt
