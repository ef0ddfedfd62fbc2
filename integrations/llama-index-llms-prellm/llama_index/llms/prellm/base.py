"""``PreLLM``: preLLM as a LlamaIndex function-calling LLM.

A small model analyses the conversation and composes a better prompt; a large model
answers it. Fields are ``prellm.PreLLM``'s constructor arguments under the same names;
per-call keyword arguments (``chat(..., strategy=..., user_context=...)``) are
``PreLLM.run``'s options, and every other name is a litellm parameter for the large model.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import prellm
from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from prellm.sync import iterate_sync, run_sync

from ._convert import StreamState, chat_response, to_openai_messages

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

DEFAULT_CONTEXT_WINDOW = 8192
_GENERATION = ("temperature", "max_tokens", "top_p", "seed", "timeout", "api_key", "api_base")


class PreLLM(FunctionCallingLLM):
    """preLLM's two-stage pipeline as a LlamaIndex LLM.

    Example:
        ```python
        from llama_index.llms.prellm import PreLLM

        llm = PreLLM(small_llm="ollama/qwen2.5:1.5b", large_llm="openai/gpt-4o-mini")
        print(llm.complete("fix the deploy").text)
        ```
    """

    small_llm: str | None = Field(default=None, description="The small model (litellm name).")
    large_llm: str | None = Field(default=None, description="The large model (litellm name).")
    strategy: str | None = Field(default=None, description="preLLM strategy (default: config).")
    pipeline: str | None = Field(default=None, description="A configured pipeline.")
    user_context: str | dict[str, Any] | None = Field(default=None, description="User facts.")
    domain: str | None = None
    config: str | None = Field(default=None, description="A prellm.yaml path.")
    small_kwargs: dict[str, Any] = Field(default_factory=dict)
    sanitize: bool | None = None
    trace: bool | None = None
    budget: bool = Field(default=True, description="Keep preLLM's usage ledger and limits.")
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    timeout: float | None = None
    api_key: str | None = Field(default=None, exclude=True)
    api_base: str | None = None
    context_window: int | None = Field(
        default=None, description="The large model's window (default: litellm's, else 8192)."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Other litellm parameters for the large model."
    )

    _engine: prellm.PreLLM | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "PreLLM_llm"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window or _window(self.large_llm),
            num_output=self.max_tokens or -1,
            is_chat_model=True,
            is_function_calling_model=True,
            model_name=self.large_llm or "prellm",
        )

    @property
    def engine(self) -> prellm.PreLLM:
        """The ``prellm.PreLLM`` this LLM runs (built on first use)."""
        if self._engine is None:
            self._engine = prellm.PreLLM(
                self.small_llm,
                self.large_llm,
                self.strategy,
                config=self.config,
                domain=self.domain,
                small_kwargs=dict(self.small_kwargs) or None,
                sanitize=self.sanitize,
                trace=self.trace,
                budget=self.budget,
            )
        return self._engine

    def _options(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> dict[str, Any]:
        opts: dict[str, Any] = {k: getattr(self, k) for k in _GENERATION}
        opts.update(pipeline=self.pipeline, user_context=self.user_context)
        opts.update(self.additional_kwargs)
        opts.update(kwargs)
        opts = {k: v for k, v in opts.items() if v is not None}
        opts["messages"] = to_openai_messages(messages)
        return opts

    # --- chat --------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        opts = self._options(messages, kwargs)
        return chat_response(run_sync(lambda: self.engine.arun(None, **opts)))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return chat_response(await self.engine.arun(None, **self._options(messages, kwargs)))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        opts = self._options(messages, kwargs)

        def gen() -> ChatResponseGen:
            yield from iterate_sync(lambda: _responses(self.engine.astream(None, **opts)))

        return gen()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        opts = self._options(messages, kwargs)
        return _responses(self.engine.astream(None, **opts))

    # --- completion --------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return chat_to_completion_decorator(self.chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return await achat_to_completion_decorator(self.achat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return stream_chat_to_completion_decorator(self.stream_chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return await astream_chat_to_completion_decorator(self.astream_chat)(prompt, **kwargs)

    # --- tools -------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The ``chat`` arguments offering ``tools`` to the large model (OpenAI format)."""
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        specs = [t.metadata.to_openai_tool() for t in tools]
        out: dict[str, Any] = {"messages": messages, **kwargs}
        if specs:
            out["tools"] = specs
            out["tool_choice"] = _tool_choice(tool_choice, tool_required)
        return out

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        if not allow_parallel_tool_calls:
            calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
            response.message.blocks = [
                b for b in response.message.blocks if not isinstance(b, ToolCallBlock)
            ] + calls[:1]
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if not calls and error_on_no_tool_call:
            raise ValueError(f"expected at least one tool call, got: {response.message.content!r}")
        return [
            ToolSelection(
                tool_id=c.tool_call_id or "",
                tool_name=c.tool_name,
                tool_kwargs=c.tool_kwargs if isinstance(c.tool_kwargs, dict) else {},
            )
            for c in calls
        ]


def _tool_choice(choice: str | dict[str, Any] | None, required: bool) -> str | dict[str, Any]:
    if isinstance(choice, dict):
        return choice
    if choice in (None, "auto"):
        return "required" if required else "auto"
    if choice in ("none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _window(model: str | None) -> int:
    """litellm's context window for ``model``, else a conservative default."""
    if model:
        try:
            import litellm

            info = litellm.get_model_info(model)
            return int(info.get("max_input_tokens") or DEFAULT_CONTEXT_WINDOW)
        except Exception:  # unknown to litellm's price list
            pass
    return DEFAULT_CONTEXT_WINDOW


async def _responses(events: AsyncIterator[Any]) -> AsyncGenerator[ChatResponse, None]:
    """preLLM's stream as LlamaIndex responses: each carries the answer so far."""
    state = StreamState()
    async for event in events:
        if isinstance(event, str):
            state.text += event
            yield state.response(event)
        elif isinstance(event, prellm.ToolCallDelta):
            state.add_delta(event)
            yield state.response("")
        elif isinstance(event, prellm.PreLLMResult):
            yield state.last(event)


__all__ = ["PreLLM"]
