"""PreLLM in LlamaIndex on preLLM's scripted models: chat, streams, tools, an agent loop."""

from __future__ import annotations

import json

from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools import FunctionTool
from prellm.providers.testing import recorded_requests, register_function

from llama_index.llms.prellm import PreLLM

SMALL, LARGE = "test/echo", "test/tools"


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _llm(**kwargs: object) -> PreLLM:
    return PreLLM(small_llm=SMALL, large_llm=LARGE, **kwargs)  # type: ignore[arg-type]


def test_metadata_says_chat_and_function_calling():
    llm = _llm(context_window=4096)
    assert isinstance(llm, FunctionCallingLLM)
    meta = llm.metadata
    assert meta.is_chat_model and meta.is_function_calling_model
    assert meta.context_window == 4096 and meta.model_name == LARGE
    assert _llm().metadata.context_window > 0


def test_chat_sends_the_composed_prompt_and_returns_the_decomposition():
    llm = _llm(strategy="structure", user_context="team: payments", temperature=0.1)
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="Be terse."),
        ChatMessage(role=MessageRole.USER, content="deploy the api to staging"),
    ]
    response = llm.chat(messages)
    sent = recorded_requests(LARGE)[-1]
    assert sent["params"]["temperature"] == 0.1
    assert sent["messages"][0] == {"role": "system", "content": "Be terse."}
    composed = sent["messages"][-1]["content"]
    assert "deploy the api to staging" in composed and "team: payments" in composed
    extra = response.additional_kwargs
    assert extra["strategy"] == "structure" and extra["intent"] == "deploy"
    assert extra["decomposition"]["composed_prompt"] == composed
    by_stage = response.raw["usage_by_stage"]
    assert response.raw["usage"]["prompt_tokens"] == (
        by_stage["small"]["prompt_tokens"] + by_stage["large"]["prompt_tokens"]
    )
    assert extra["total_tokens"] == by_stage["total"]["total_tokens"]


def test_complete_and_stream_complete():
    llm = _llm(strategy="passthrough")
    assert llm.complete("say one two three").text == "say one two three"
    parts = list(llm.stream_complete("one two three four"))
    assert "".join(p.delta or "" for p in parts) == "one two three four"
    assert parts[-1].text == "one two three four" and len(parts) > 2


async def test_async_chat_and_stream_with_per_call_options():
    llm = _llm(strategy="structure")
    msgs = [ChatMessage(role=MessageRole.USER, content="alpha beta")]
    response = await llm.achat(msgs, strategy="passthrough")
    assert response.message.content == "alpha beta"
    assert response.additional_kwargs["strategy"] == "passthrough"
    deltas = [r.delta async for r in await llm.astream_chat(msgs, strategy="passthrough")]
    assert "".join(d or "" for d in deltas) == "alpha beta"


def test_predict_and_call_runs_the_tool_the_model_chose():
    llm = _llm()
    output = llm.predict_and_call([FunctionTool.from_defaults(fn=add)], "What is 3 + 4?")
    assert output.response == "7"
    sent = recorded_requests(LARGE)[-1]["params"]
    assert sent["tools"][0]["function"]["name"] == "add"
    assert all('"add"' not in json.dumps(r) for r in recorded_requests(SMALL))


async def test_a_function_agent_loop_on_the_scripted_model():
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=get_weather)],
        llm=_llm(),
        system_prompt="You answer weather questions.",
    )
    response = await agent.run("What is the weather in 'Paris'?")
    assert str(response) == "Tool results: sunny in Paris"
    calls = recorded_requests(LARGE)
    first, last = calls[0], calls[-1]
    assert first["params"]["tools"][0]["function"]["name"] == "get_weather"
    assert last["messages"][-1]["role"] == "tool"
    assert last["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"


async def test_a_streaming_function_agent_assembles_streamed_tool_calls():
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=add)], llm=_llm(), streaming=True)
    response = await agent.run("What is 2 + 5?")
    assert str(response) == "Tool results: 7"


def _react_model(messages: list[dict], params: dict) -> str:
    """A text-only model speaking ReAct: act once, then answer from the observation."""
    last = messages[-1]["content"]
    if "Observation:" in last:
        return (
            "Thought: I can answer without using any more tools.\nAnswer: "
            + last.split(":")[-1].strip()
        )
    return 'Thought: I need a tool.\nAction: add\nAction Input: {"a": 2, "b": 3}'


async def test_a_react_agent_loop_through_prellm():
    large = register_function("react", _react_model)
    agent = ReActAgent(
        tools=[FunctionTool.from_defaults(fn=add)], llm=PreLLM(small_llm=SMALL, large_llm=large)
    )
    response = await agent.run("What is 2 + 3?")
    assert str(response) == "5"
    sent = recorded_requests(large)
    assert "add" in sent[0]["messages"][0]["content"], "ReAct's tool list reached the model"
    assert any("Observation: 5" in m["content"] for m in sent[-1]["messages"])
