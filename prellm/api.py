"""The one-call API: ``preprocess_and_execute`` and its sync twin.

Both build a ``PreLLM`` engine for the call and run it. With ``stream=True``
they return an iterator (async or sync) of text chunks and ``StageEvent``s that
ends with the ``PreLLMResult``, as ``litellm.acompletion(stream=True)`` returns
an iterator of chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, overload

from .engine import Event, PreLLM
from .models import PreLLMResult


@overload
async def preprocess_and_execute(
    query: str | None = ...,
    small_llm: str | None = ...,
    large_llm: str | None = ...,
    strategy: str | None = ...,
    user_context: str | dict[str, Any] | None = ...,
    messages: list[dict[str, Any]] | None = ...,
    stream: Literal[False] = ...,
    config: str | None = ...,
    domain: str | None = ...,
    **llm_kwargs: Any,
) -> PreLLMResult: ...
@overload
async def preprocess_and_execute(
    query: str | None = ...,
    small_llm: str | None = ...,
    large_llm: str | None = ...,
    strategy: str | None = ...,
    user_context: str | dict[str, Any] | None = ...,
    messages: list[dict[str, Any]] | None = ...,
    stream: Literal[True] = ...,
    config: str | None = ...,
    domain: str | None = ...,
    **llm_kwargs: Any,
) -> AsyncIterator[Event]: ...
async def preprocess_and_execute(
    query: str | None = None,
    small_llm: str | None = None,
    large_llm: str | None = None,
    strategy: str | None = None,
    user_context: str | dict[str, Any] | None = None,
    messages: list[dict[str, Any]] | None = None,
    stream: bool = False,
    config: str | None = None,
    domain: str | None = None,
    **llm_kwargs: Any,
) -> PreLLMResult | AsyncIterator[Event]:
    """Analyse ``query`` (or the last user turn of ``messages``) with the small model,
    compose a better prompt with ``strategy``, and answer it with the large model.

    ``llm_kwargs`` (``temperature``, ``max_tokens``, ``api_base``, ``api_key``,
    ``timeout``, ...) go to the large model's calls, as in ``litellm.acompletion``;
    preLLM's own options go there too: ``response_schema`` (a schemas.yaml name, a
    YAML-style dict or a Pydantic model; the validated answer is ``result.parsed``),
    ``sanitize``, ``trace``, ``session``, ``codebase_path``, ``collect_runtime``.
    ``config`` is a prellm.yaml path (else discovered), ``domain`` a built-in domain.
    Raises a ``PreLLMError`` subclass; never returns None.
    """
    engine = PreLLM(small_llm, large_llm, strategy, config=config, domain=domain)
    if stream:
        return engine.astream(query, messages=messages, user_context=user_context, **llm_kwargs)
    return await engine.arun(query, messages=messages, user_context=user_context, **llm_kwargs)


def preprocess_and_execute_sync(
    query: str | None = None,
    small_llm: str | None = None,
    large_llm: str | None = None,
    strategy: str | None = None,
    user_context: str | dict[str, Any] | None = None,
    messages: list[dict[str, Any]] | None = None,
    stream: bool = False,
    config: str | None = None,
    domain: str | None = None,
    **llm_kwargs: Any,
) -> PreLLMResult | Iterator[Event]:
    """The blocking twin of :func:`preprocess_and_execute` (not for use inside an event loop)."""
    engine = PreLLM(small_llm, large_llm, strategy, config=config, domain=domain)
    if stream:
        return engine.stream(query, messages=messages, user_context=user_context, **llm_kwargs)
    return engine.run(query, messages=messages, user_context=user_context, **llm_kwargs)
