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
    strategy: str = ...,
    user_context: str | dict[str, Any] | None = ...,
    messages: list[dict[str, Any]] | None = ...,
    stream: Literal[False] = ...,
    **llm_kwargs: Any,
) -> PreLLMResult: ...
@overload
async def preprocess_and_execute(
    query: str | None = ...,
    small_llm: str | None = ...,
    large_llm: str | None = ...,
    strategy: str = ...,
    user_context: str | dict[str, Any] | None = ...,
    messages: list[dict[str, Any]] | None = ...,
    stream: Literal[True] = ...,
    **llm_kwargs: Any,
) -> AsyncIterator[Event]: ...
async def preprocess_and_execute(
    query: str | None = None,
    small_llm: str | None = None,
    large_llm: str | None = None,
    strategy: str = "auto",
    user_context: str | dict[str, Any] | None = None,
    messages: list[dict[str, Any]] | None = None,
    stream: bool = False,
    **llm_kwargs: Any,
) -> PreLLMResult | AsyncIterator[Event]:
    """Analyse ``query`` (or the last user turn of ``messages``) with the small model,
    compose a better prompt with ``strategy``, and answer it with the large model.

    ``llm_kwargs`` (``temperature``, ``max_tokens``, ``api_base``, ``api_key``,
    ``timeout``, ...) go to the large model's calls, as in ``litellm.acompletion``.
    Raises a ``PreLLMError`` subclass; never returns None.
    """
    engine = PreLLM(small_llm, large_llm, strategy)
    if stream:
        return engine.astream(query, messages=messages, user_context=user_context, **llm_kwargs)
    return await engine.arun(query, messages=messages, user_context=user_context, **llm_kwargs)


def preprocess_and_execute_sync(
    query: str | None = None,
    small_llm: str | None = None,
    large_llm: str | None = None,
    strategy: str = "auto",
    user_context: str | dict[str, Any] | None = None,
    messages: list[dict[str, Any]] | None = None,
    stream: bool = False,
    **llm_kwargs: Any,
) -> PreLLMResult | Iterator[Event]:
    """The blocking twin of :func:`preprocess_and_execute` (not for use inside an event loop)."""
    engine = PreLLM(small_llm, large_llm, strategy)
    if stream:
        return engine.stream(query, messages=messages, user_context=user_context, **llm_kwargs)
    return engine.run(query, messages=messages, user_context=user_context, **llm_kwargs)
