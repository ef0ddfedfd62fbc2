"""PreLLMChatGenerator on preLLM's scripted models: pipelines, serialisation, tools, streams."""

from __future__ import annotations

import copy

import pytest
from haystack import Pipeline
from haystack.components.agents import Agent
from haystack.components.builders import ChatPromptBuilder
from haystack.dataclasses import ChatMessage, StreamingChunk
from haystack.tools import Tool
from haystack.utils import Secret
from prellm.providers.testing import recorded_requests

from haystack_integrations.components.generators.prellm import PreLLMChatGenerator

try:  # Haystack 3 loads callables only from modules on an allowlist
    from haystack.core.serialization import allow_deserialization_module
except ImportError:  # Haystack 2
    pass
else:
    allow_deserialization_module("test_chat_generator")

SMALL, LARGE = "test/echo", "test/tools"


def get_weather(city: str) -> str:
    return f"sunny in {city}"


WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    function=get_weather,
)


def collect(chunk: StreamingChunk) -> None:
    CHUNKS.append(chunk)


CHUNKS: list[StreamingChunk] = []


def _pipeline() -> Pipeline:
    pipe = Pipeline()
    template = [
        ChatMessage.from_system("You are an SRE."),
        ChatMessage.from_user("{{ task }} on {{ env }}"),
    ]
    pipe.add_component("prompt", ChatPromptBuilder(template=template, required_variables="*"))
    pipe.add_component(
        "llm",
        PreLLMChatGenerator(
            SMALL,
            LARGE,
            "structure",
            user_context={"team": "payments"},
            api_key=Secret.from_env_var("PRELLM_TEST_KEY", strict=False),
            generation_kwargs={"temperature": 0.3},
        ),
    )
    pipe.connect("prompt.prompt", "llm.messages")
    return pipe


def test_a_pipeline_runs_and_survives_a_yaml_round_trip(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PRELLM_TEST_KEY", "sk-never-serialised")
    pipe = _pipeline()
    yaml = pipe.dumps()
    assert "sk-never-serialised" not in yaml and "PRELLM_TEST_KEY" in yaml
    first = pipe.run({"prompt": {"task": "deploy the api", "env": "staging"}})
    sent = recorded_requests(LARGE)[-1]
    assert sent["params"]["temperature"] == 0.3
    llm = pipe.get_component("llm")
    assert llm._options("hi", None, None)["api_key"] == "sk-never-serialised"  # resolved per run
    assert sent["messages"][0] == {"role": "system", "content": "You are an SRE."}
    composed = sent["messages"][-1]["content"]
    assert "deploy the api on staging" in composed and "team: payments" in composed

    loaded = Pipeline.loads(yaml)
    assert loaded.get_component("llm").to_dict() == pipe.get_component("llm").to_dict()
    again = loaded.run({"prompt": {"task": "deploy the api", "env": "staging"}})
    assert again["llm"]["replies"][0].text == first["llm"]["replies"][0].text
    meta = again["llm"]["replies"][0].meta
    assert meta["model"] == LARGE and meta["prellm"]["strategy"] == "structure"
    assert meta["prellm"]["intent"] == "deploy"
    by_stage = meta["prellm"]["usage_by_stage"]
    assert meta["usage"]["total_tokens"] == by_stage["total"]["total_tokens"]
    assert by_stage["small"]["prompt_tokens"] > 0 and by_stage["large"]["prompt_tokens"] > 0


def test_a_token_secret_is_never_serialised():
    gen = PreLLMChatGenerator(SMALL, LARGE, api_key=Secret.from_token("sk-secret"))
    with pytest.raises(ValueError):
        gen.to_dict()


def test_round_trip_keeps_tools_callback_and_options():
    gen = PreLLMChatGenerator(
        SMALL, LARGE, "passthrough", pipeline=None, tools=[WEATHER], streaming_callback=collect
    )
    data = gen.to_dict()
    assert data["init_parameters"]["streaming_callback"].endswith("collect")
    back = PreLLMChatGenerator.from_dict(copy.deepcopy(data))
    assert back.tools[0].name == "get_weather" and back.streaming_callback is collect
    assert back.to_dict() == data


def test_tool_calls_come_back_as_haystack_tool_calls():
    gen = PreLLMChatGenerator(SMALL, LARGE)
    out = gen.run([ChatMessage.from_user("Weather in 'Lisbon'?")], tools=[WEATHER])
    call = out["replies"][0].tool_calls[0]
    assert call.tool_name == "get_weather" and call.arguments == {"city": "Lisbon"} and call.id
    assert recorded_requests(LARGE)[-1]["params"]["tools"][0]["function"]["name"] == "get_weather"


def test_an_agent_loop_with_tools():
    agent = Agent(chat_generator=PreLLMChatGenerator(SMALL, LARGE), tools=[WEATHER])
    agent.warm_up()
    out = agent.run([ChatMessage.from_user("What is the weather in 'Paris'?")])
    assert out["messages"][-1].text == "Tool results: sunny in Paris"
    last = recorded_requests(LARGE)[-1]["messages"]
    assert (
        last[-1]["role"] == "tool"
        and last[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    )


def test_streaming_callback_gets_text_then_a_closing_chunk_with_usage():
    CHUNKS.clear()
    gen = PreLLMChatGenerator(SMALL, LARGE, "passthrough", streaming_callback=collect)
    reply = gen.run("one two three four")["replies"][0]
    assert "".join(c.content for c in CHUNKS) == "one two three four" == reply.text
    assert CHUNKS[0].start and CHUNKS[-1].finish_reason == "stop"
    assert [c for c in CHUNKS if "usage" in c.meta] == [CHUNKS[-1]]


def test_streamed_tool_calls_arrive_as_deltas():
    CHUNKS.clear()
    gen = PreLLMChatGenerator(SMALL, LARGE, streaming_callback=collect)
    reply = gen.run("Weather in 'Rome'?", tools=[WEATHER])["replies"][0]
    deltas = [d for c in CHUNKS for d in c.tool_calls or []]
    assert deltas[0].tool_name == "get_weather"
    assert reply.tool_calls[0].arguments == {"city": "Rome"}
    assert CHUNKS[-1].finish_reason == "tool_calls"


async def test_run_async_with_an_async_callback_and_per_call_options():
    seen: list[str] = []

    async def on_chunk(chunk: StreamingChunk) -> None:
        seen.append(chunk.content)

    gen = PreLLMChatGenerator(SMALL, LARGE, "structure")
    out = await gen.run_async(
        [ChatMessage.from_user("alpha beta")],
        generation_kwargs={"strategy": "passthrough", "max_tokens": 9},
        streaming_callback=on_chunk,
    )
    assert out["replies"][0].text == "alpha beta" == "".join(seen)
    assert out["replies"][0].meta["prellm"]["strategy"] == "passthrough"
    assert recorded_requests(LARGE)[-1]["params"]["max_tokens"] == 9
