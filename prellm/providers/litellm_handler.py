"""One base for our litellm custom handlers (``local/`` and ``test/`` models).

litellm calls a handler's ``completion``/``acompletion``/``streaming``/``astreaming``
with a long list of arguments of which ours use four. ``Handler`` binds them once
(against litellm's own signature, so positional and keyword calls both work) into a
``Call`` and hands that to four small hooks a handler fills in.

Imported only when litellm is (``prellm.providers.litellm()`` registers the handlers).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

_SIGNATURE = inspect.signature(CustomLLM.completion)


@dataclass(frozen=True)
class Call:
    """What a handler needs of litellm's call."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]  # litellm's optional_params: temperature, tools, ...
    response: ModelResponse  # litellm's response object, to fill in


def bind(handler: CustomLLM, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
    arguments = _SIGNATURE.bind(handler, *args, **kwargs).arguments
    return Call(
        model=str(arguments["model"]),
        messages=list(arguments["messages"]),
        params=dict(arguments.get("optional_params") or {}),
        response=arguments["model_response"],
    )


class Handler(CustomLLM):
    """Fill in ``answer`` and ``chunks``; the async forms default to running those."""

    def answer(self, call: Call) -> ModelResponse:
        raise NotImplementedError

    def chunks(self, call: Call) -> Iterator[GenericStreamingChunk]:
        raise NotImplementedError

    async def aanswer(self, call: Call) -> ModelResponse:
        return await asyncio.to_thread(self.answer, call)

    async def achunks(self, call: Call) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in self.chunks(call):
            yield chunk

    # --- litellm's entry points -----------------------------------------------------

    def completion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return self.answer(bind(self, args, kwargs))

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return await self.aanswer(bind(self, args, kwargs))

    def streaming(self, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
        return self.chunks(bind(self, args, kwargs))

    # litellm declares the base as a coroutine returning an iterator; ours is an async generator.
    async def astreaming(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        async for chunk in self.achunks(bind(self, args, kwargs)):
            yield chunk
