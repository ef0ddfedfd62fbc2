"""``ChatPreLLM``: preLLM as a LangChain chat model.

A small model analyses the conversation and composes a better prompt; a large model
answers it. Constructor fields are ``prellm.PreLLM``'s arguments under the same
names; per-call keyword arguments (``invoke(..., strategy=..., user_context=...)``)
are ``PreLLM.run``'s options, and every other name is a litellm parameter for the
large model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.utils import convert_to_openai_messages
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from prellm import PreLLM, PreLLMResult, ToolCallDelta
from prellm.sync import iterate_sync, run_sync
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from ._convert import ai_message, delta_chunk, last_chunk

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]
_GENERATION = ("temperature", "max_tokens", "top_p", "seed", "timeout", "max_retries", "api_base")


class ChatPreLLM(BaseChatModel):
    """preLLM's two-stage pipeline as a chat model.

    Example:
        ```python
        from langchain_prellm import ChatPreLLM

        llm = ChatPreLLM(small_llm="ollama/qwen2.5:1.5b", large_llm="openai/gpt-4o-mini")
        msg = llm.invoke("fix the deploy")
        msg.response_metadata["intent"], msg.usage_metadata
        ```
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    small_llm: str | None = None
    """The small model that analyses and composes (litellm name; default: the embedded one)."""
    large_llm: str | None = None
    """The large model that answers (litellm name)."""
    strategy: str | None = None
    """auto, passthrough, classify, structure, split or enrich (default: the config's)."""
    pipeline: str | None = None
    """A configured pipeline to run instead of a strategy."""
    user_context: str | dict[str, Any] | None = None
    """Facts about the user or task, given to every call."""
    domain: str | None = None
    config: str | None = None
    """A prellm.yaml path (default: discovered as the CLI does)."""
    small_kwargs: dict[str, Any] = Field(default_factory=dict)
    sanitize: bool | None = None
    trace: bool | None = None
    budget: bool = True
    """Keep preLLM's usage ledger (and its budget limits)."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    max_retries: int | None = None
    api_key: SecretStr | None = None
    api_base: str | None = None
    streaming: bool = False
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other litellm parameters for the large model."""

    _engines: dict[str | None, PreLLM] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "prellm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "small_llm": self.small_llm,
            "large_llm": self.large_llm,
            "strategy": self.strategy,
            "pipeline": self.pipeline,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="prellm",
            ls_model_name=kwargs.get("model") or self.large_llm or "prellm-default",
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if temperature is not None:
            params["ls_temperature"] = temperature
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    # --- the engine ----------------------------------------------------------------------

    def engine(self, large_llm: str | None = None) -> PreLLM:
        """The ``prellm.PreLLM`` this model runs (one per large model, built once)."""
        key = large_llm or self.large_llm
        if key not in self._engines:
            self._engines[key] = PreLLM(
                self.small_llm,
                key,
                self.strategy,
                config=self.config,
                domain=self.domain,
                small_kwargs=dict(self.small_kwargs) or None,
                sanitize=self.sanitize,
                trace=self.trace,
                budget=self.budget,
            )
        return self._engines[key]

    def _call(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[PreLLM, dict[str, Any]]:
        """The engine and the options of one call: fields, then the call's own kwargs."""
        opts: dict[str, Any] = {k: getattr(self, k) for k in _GENERATION}
        opts.update(pipeline=self.pipeline, user_context=self.user_context)
        opts["api_key"] = self.api_key.get_secret_value() if self.api_key else None
        opts["stop"] = stop or self.stop or None
        opts.update(self.model_kwargs)
        call = dict(kwargs)
        large = call.pop("model", None)
        opts.update(call)
        opts = {k: v for k, v in opts.items() if v is not None}
        opts["messages"] = convert_to_openai_messages(messages)
        return self.engine(large), opts

    # --- generation ----------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        engine, opts = self._call(messages, stop, kwargs)
        result = run_sync(lambda: engine.arun(None, **opts))
        return _chat_result(result)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        engine, opts = self._call(messages, stop, kwargs)
        return _chat_result(await engine.arun(None, **opts))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        engine, opts = self._call(messages, stop, kwargs)
        for chunk in iterate_sync(lambda: _chunks(engine.astream(None, **opts))):
            if run_manager and isinstance(chunk.message.content, str) and chunk.message.content:
                run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        engine, opts = self._call(messages, stop, kwargs)
        async for chunk in _chunks(engine.astream(None, **opts)):
            if run_manager and isinstance(chunk.message.content, str) and chunk.message.content:
                await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    # --- tools and structured output -----------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` to the large model (OpenAI's format; the small model never
        sees them). ``tool_choice``: "auto", "none", "any"/"required"/True, or a name."""
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        if tool_choice is not None and tool_choice is not False:
            kwargs["tool_choice"] = _tool_choice(tool_choice)
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: StructuredMethod = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Answers shaped by ``schema`` (a Pydantic class, TypedDict or JSON Schema).

        ``json_schema``: a Pydantic class is preLLM's ``response_schema`` (validated,
        repaired once); other schemas go as ``response_format``. ``function_calling``:
        the schema is a tool the model must call. ``json_mode``: a JSON object is asked
        for and the prompt must describe it.
        """
        if kwargs:
            raise ValueError(f"unexpected arguments: {sorted(kwargs)}")
        if method not in ("json_schema", "function_calling", "json_mode"):
            raise ValueError(f"unknown method {method!r}")
        fmt = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        if method == "function_calling":
            llm, parser = self._via_tool(schema, strict, fmt)
        else:
            llm, parser = self._via_json(schema, method, strict, fmt)
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks(
            [fallback], exception_key="parsing_error"
        )

    def _via_tool(
        self, schema: dict[str, Any] | type, strict: bool | None, fmt: dict[str, Any]
    ) -> tuple[Runnable[Any, Any], Runnable[Any, Any]]:
        name = convert_to_openai_tool(schema)["function"]["name"]
        llm = self.bind_tools(
            [schema], tool_choice=name, strict=strict, ls_structured_output_format=fmt
        )
        if _is_pydantic(schema):
            return llm, PydanticToolsParser(tools=[schema], first_tool_only=True)
        return llm, JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)

    def _via_json(
        self,
        schema: dict[str, Any] | type,
        method: StructuredMethod,
        strict: bool | None,
        fmt: dict[str, Any],
    ) -> tuple[Runnable[Any, Any], Runnable[Any, Any]]:
        parser: Runnable[Any, Any] = (
            PydanticOutputParser(pydantic_object=schema)
            if _is_pydantic(schema)
            else JsonOutputParser()
        )
        if method == "json_mode":
            rf: dict[str, Any] = {"type": "json_object"}
            return self.bind(response_format=rf, ls_structured_output_format=fmt), parser
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return self.bind(response_schema=schema, ls_structured_output_format=fmt), parser
        json_schema = convert_to_json_schema(schema)
        rf = {
            "type": "json_schema",
            "json_schema": {
                "name": json_schema.get("title", "response"),
                "schema": json_schema,
                **({"strict": strict} if strict is not None else {}),
            },
        }
        return self.bind(response_format=rf, ls_structured_output_format=fmt), parser


def _is_pydantic(schema: Any) -> bool:
    return isinstance(schema, type) and is_basemodel_subclass(schema)


def _tool_choice(choice: str | bool | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, dict):
        return choice
    if choice is True or choice in ("any", "required"):
        return "required"
    if choice in ("auto", "none"):
        return str(choice)
    return {"type": "function", "function": {"name": choice}}


def _chat_result(result: PreLLMResult) -> ChatResult:
    message = ai_message(result)
    info = {"finish_reason": result.finish_reason}
    return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)])


async def _chunks(events: AsyncIterator[Any]) -> AsyncIterator[ChatGenerationChunk]:
    """preLLM's stream as LangChain chunks: text, tool-call pieces, then one closing chunk."""
    text_sent = calls_sent = False
    async for event in events:
        if isinstance(event, str):
            text_sent = text_sent or bool(event)
            yield ChatGenerationChunk(message=AIMessageChunk(content=event))
        elif isinstance(event, ToolCallDelta):
            calls_sent = True
            yield ChatGenerationChunk(message=delta_chunk(event))
        elif isinstance(event, PreLLMResult):
            message = last_chunk(event, text_sent=text_sent, calls_sent=calls_sent)
            info = {"finish_reason": event.finish_reason}
            yield ChatGenerationChunk(message=message, generation_info=info)
