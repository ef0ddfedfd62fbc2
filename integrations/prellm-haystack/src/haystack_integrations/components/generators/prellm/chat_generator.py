"""``PreLLMChatGenerator``: preLLM as a Haystack chat generator.

A small model analyses the conversation and composes a better prompt; a large model
answers it. Init parameters are ``prellm.PreLLM``'s arguments under the same names;
``generation_kwargs`` carries ``PreLLM.run``'s per-call options (``strategy``,
``user_context``, ``response_schema``, ...) and litellm parameters for the large model.

No ``from __future__ import annotations`` here: Haystack 2 reads ``run``'s annotations
as real types to type its input sockets.
"""

import inspect
from collections.abc import AsyncIterator
from typing import Any

import prellm
from haystack import component, default_from_dict, default_to_dict
from haystack.dataclasses import (
    ChatMessage,
    ComponentInfo,
    StreamingCallbackT,
    StreamingChunk,
    select_streaming_callback,
)
from haystack.tools import (
    ToolsType,
    deserialize_tools_or_toolset_inplace,
    flatten_tools_or_toolsets,
    serialize_tools_or_toolset,
)
from haystack.utils import (
    Secret,
    deserialize_callable,
    deserialize_secrets_inplace,
    serialize_callable,
)
from prellm.sync import run_sync

from ._convert import last_chunk, reply, text_chunk, tool_chunk

_INIT = ("small_llm", "large_llm", "strategy", "pipeline", "user_context", "domain", "config")
_INIT_MORE = ("small_kwargs", "sanitize", "trace", "budget", "api_base", "generation_kwargs")


@component
class PreLLMChatGenerator:
    """Answers chats through preLLM's two stages.

    Usage:
        ```python
        from haystack.dataclasses import ChatMessage
        from haystack_integrations.components.generators.prellm import PreLLMChatGenerator

        gen = PreLLMChatGenerator(small_llm="ollama/qwen2.5:1.5b", large_llm="gpt-4o-mini")
        gen.run([ChatMessage.from_user("fix the deploy")])["replies"][0].text
        ```
    """

    def __init__(  # noqa: PLR0913
        self,
        small_llm: str | None = None,
        large_llm: str | None = None,
        strategy: str | None = None,
        *,
        pipeline: str | None = None,
        user_context: str | dict[str, Any] | None = None,
        domain: str | None = None,
        config: str | None = None,
        small_kwargs: dict[str, Any] | None = None,
        sanitize: bool | None = None,
        trace: bool | None = None,
        budget: bool = True,
        api_key: Secret | None = None,
        api_base: str | None = None,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        tools: ToolsType | None = None,
    ) -> None:
        """``api_key``: the large model's key as a Haystack ``Secret`` (serialised by its
        environment variable's name, never its value); without one, litellm reads the
        provider's usual variable."""
        self.small_llm, self.large_llm, self.strategy = small_llm, large_llm, strategy
        self.pipeline, self.user_context = pipeline, user_context
        self.domain, self.config = domain, config
        self.small_kwargs = dict(small_kwargs or {})
        self.sanitize, self.trace, self.budget = sanitize, trace, budget
        self.api_key, self.api_base = api_key, api_base
        self.generation_kwargs = dict(generation_kwargs or {})
        self.streaming_callback = streaming_callback
        self.tools = tools
        self._engine: prellm.PreLLM | None = None

    def warm_up(self) -> None:
        """Build the engine (configuration, prompts, models) once."""
        if self._engine is None:
            self._engine = prellm.PreLLM(
                self.small_llm,
                self.large_llm,
                self.strategy,
                config=self.config,
                domain=self.domain,
                small_kwargs=self.small_kwargs or None,
                sanitize=self.sanitize,
                trace=self.trace,
                budget=self.budget,
            )

    @property
    def engine(self) -> prellm.PreLLM:
        self.warm_up()
        assert self._engine is not None
        return self._engine

    # --- serialisation -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        cb = self.streaming_callback
        return default_to_dict(
            self,
            **{k: getattr(self, k) for k in (*_INIT, *_INIT_MORE)},
            api_key=self.api_key.to_dict() if self.api_key else None,
            streaming_callback=serialize_callable(cb) if cb else None,
            tools=serialize_tools_or_toolset(self.tools),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PreLLMChatGenerator":
        params = data.get("init_parameters", {})
        deserialize_secrets_inplace(params, keys=["api_key"])
        deserialize_tools_or_toolset_inplace(params, key="tools")
        if params.get("streaming_callback"):
            params["streaming_callback"] = deserialize_callable(params["streaming_callback"])
        return default_from_dict(cls, data)

    # --- running -----------------------------------------------------------------------

    def _options(
        self,
        messages: list[ChatMessage] | str,
        generation_kwargs: dict[str, Any] | None,
        tools: ToolsType | None,
    ) -> dict[str, Any]:
        if isinstance(messages, str):
            messages = [ChatMessage.from_user(messages)]
        opts: dict[str, Any] = {"pipeline": self.pipeline, "user_context": self.user_context}
        opts["api_base"] = self.api_base
        opts["api_key"] = self.api_key.resolve_value() if self.api_key else None
        opts.update(self.generation_kwargs)
        opts.update(generation_kwargs or {})
        specs = [
            {"type": "function", "function": t.tool_spec}
            for t in flatten_tools_or_toolsets(tools if tools is not None else self.tools)
        ]
        if specs:
            opts["tools"] = specs
        opts = {k: v for k, v in opts.items() if v is not None}
        opts["messages"] = [m.to_openai_dict_format() for m in messages]
        return opts

    @component.output_types(replies=list[ChatMessage])
    def run(
        self,
        messages: list[ChatMessage] | str,
        generation_kwargs: dict[str, Any] | None = None,
        *,
        tools: ToolsType | None = None,
        streaming_callback: StreamingCallbackT | None = None,
    ) -> dict[str, list[ChatMessage]]:
        """Answer ``messages``; ``generation_kwargs`` override the init ones per key."""
        if not messages:
            return {"replies": []}
        opts = self._options(messages, generation_kwargs, tools)
        callback = select_streaming_callback(
            self.streaming_callback, streaming_callback, requires_async=False
        )
        result = run_sync(lambda: self._answer(opts, callback))
        return {"replies": [reply(result)]}

    @component.output_types(replies=list[ChatMessage])
    async def run_async(
        self,
        messages: list[ChatMessage] | str,
        generation_kwargs: dict[str, Any] | None = None,
        *,
        tools: ToolsType | None = None,
        streaming_callback: StreamingCallbackT | None = None,
    ) -> dict[str, list[ChatMessage]]:
        """The async twin of :meth:`run` (async streaming callbacks are awaited)."""
        if not messages:
            return {"replies": []}
        opts = self._options(messages, generation_kwargs, tools)
        callback = select_streaming_callback(
            self.streaming_callback, streaming_callback, requires_async=True
        )
        return {"replies": [reply(await self._answer(opts, callback))]}

    async def _answer(
        self, opts: dict[str, Any], callback: StreamingCallbackT | None
    ) -> prellm.PreLLMResult:
        if callback is None:
            return await self.engine.arun(None, **opts)
        result = None
        async for chunk, done in self._chunks(self.engine.astream(None, **opts)):
            outcome = callback(chunk)
            if inspect.isawaitable(outcome):
                await outcome
            result = done or result
        assert result is not None, "the engine's stream ended without a result"
        return result

    async def _chunks(
        self, events: AsyncIterator[Any]
    ) -> AsyncIterator[tuple[StreamingChunk, prellm.PreLLMResult | None]]:
        info = ComponentInfo.from_component(self)
        model = self.engine.models[1]
        text_sent = False
        async for event in events:
            if isinstance(event, str) and event:
                yield text_chunk(event, model, info, first=not text_sent), None
                text_sent = True
            elif isinstance(event, prellm.ToolCallDelta):
                yield tool_chunk(event, model, info), None
            elif isinstance(event, prellm.PreLLMResult):
                yield last_chunk(event, info, text_sent), event
