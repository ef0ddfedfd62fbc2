"""Agents through preLLM: tool calls end to end, agent continuations, the fields agents send."""

from __future__ import annotations

import json

import openai
import pytest
from recording_server import tool_agent

from prellm import PreLLM, PreLLMResult, ToolCallDelta, preprocess_and_execute_sync
from prellm.providers.testing import recorded_requests, register_function

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "the city"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
PAIR = "prellm:test/echo->openai/agent-model"


# --- the library ---------------------------------------------------------------------


def test_a_tool_call_is_a_valid_answer():
    r = preprocess_and_execute_sync(
        "What is the weather in Paris?",
        small_llm="test/echo",
        large_llm="test/tools",
        strategy="structure",
        tools=[WEATHER],
        tool_choice="auto",
    )
    assert r.finish_reason == "tool_calls" and r.content == ""
    assert [c.function.name for c in r.tool_calls] == ["get_weather"]
    assert json.loads(r.tool_calls[0].function.arguments) == {"city": "city"}
    sent = recorded_requests("test/tools")[-1]
    assert sent["params"]["tools"][0]["function"]["name"] == "get_weather"
    # The composed prompt knows about the tools instead of hiding them.
    assert "get_weather" in json.dumps(sent["messages"])
    # Tool definitions never reach the small model.
    assert all("get_weather" not in json.dumps(x) for x in recorded_requests("test/echo"))


def test_streamed_tool_calls_arrive_as_typed_events_and_assembled():
    events = list(
        PreLLM("test/echo", "test/tools", "passthrough").stream(
            "weather in Paris?", tools=[WEATHER]
        )
    )
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    result = events[-1]
    assert isinstance(result, PreLLMResult) and deltas
    assert deltas[0].name == "get_weather" and deltas[0].id
    assert result.tool_calls[0].function.arguments == "".join(d.arguments for d in deltas)
    assert result.finish_reason == "tool_calls"


def test_tool_definitions_go_out_redacted_and_arguments_come_back_restored():
    secret = "sk-proj-" + "Q7wE9rT2yU4iO6pA8sD1fG3hJ5kL0zX" * 2
    email = "ops-oncall@example-corp.com"
    seen: list[dict] = []

    def model(messages, params):
        seen.append({"messages": messages, "params": params})
        user = messages[-1]["content"]
        placeholder = next(w.strip(".,") for w in user.split() if w.startswith("[SECRET_"))
        return {
            "content": None,
            "tool_calls": [
                {"name": "rotate", "arguments": {"key": placeholder, "note": 'say "hi"'}}
            ],
        }

    large = register_function("rotator", model)
    tool = {
        "type": "function",
        "function": {
            "name": "rotate",
            "description": f"Rotate a key; problems go to {email}",
            "parameters": {"type": "object", "properties": {"key": {"type": "string"}}},
        },
    }
    r = PreLLM("test/echo", large, "passthrough").run(f"Rotate the key {secret} now", tools=[tool])
    out = json.dumps(seen)
    assert secret not in out and email not in out
    assert seen[0]["params"]["tools"][0]["function"]["parameters"]["properties"].keys() == {"key"}
    args = json.loads(r.tool_calls[0].function.arguments)  # still valid JSON
    assert args == {"key": secret, "note": 'say "hi"'}


def test_an_agent_loop_runs_the_small_model_once_per_user_turn():
    engine = PreLLM("test/echo", "test/tools", "structure")
    user = {"role": "user", "content": "What is the weather in Paris?"}
    first = engine.run(messages=[user], tools=[WEATHER])
    assert first.turn == "new" and first.tool_calls
    composed = recorded_requests("test/tools")[-1]["messages"]
    call = first.tool_calls[0].model_dump()
    history = [
        user,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "18 C and sunny"},
    ]
    second = engine.run(messages=history, tools=[WEATHER])
    assert second.turn == "continuation" and second.content.startswith("Tool results: 18 C")
    third_history = [
        *history,
        {"role": "assistant", "content": second.content},
        {"role": "tool", "tool_call_id": call["id"], "content": "more data"},
    ]
    engine.run(messages=third_history, tools=[WEATHER])
    small_calls = recorded_requests("test/echo")
    assert len(small_calls) == 1  # once for the user turn, never for the tool steps
    for step in recorded_requests("test/tools")[1:]:
        # The earlier user turn went exactly as composed at the first step.
        assert step["messages"][: len(composed)] == composed
    assert all(s.role == "large" for s in second.stages)


def test_a_continuation_without_a_stored_turn_goes_as_sent_and_says_so():
    engine = PreLLM("test/echo", "test/tools", "structure")
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "rain"},
    ]
    r = engine.run(messages=history, tools=[WEATHER])
    assert r.turn == "continuation" and r.strategy == "passthrough"
    assert "no composed turn" in r.decomposition.fallback_reason
    assert recorded_requests("test/echo") == []
    assert recorded_requests("test/tools")[-1]["messages"][0]["content"] == "weather?"


# --- the proxy with the official openai SDK -----------------------------------------


@pytest.fixture
def agent_upstream(provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-secret-0000")
    provider.responder = tool_agent
    return provider


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=30)


def test_openai_sdk_tools_non_stream_and_stream(serve, agent_upstream):
    url = serve(strategy="structure")
    r = _client(url).chat.completions.create(
        model=PAIR,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="auto",
    )
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    sent = agent_upstream.requests[-1]
    assert sent["tools"][0]["function"]["name"] == "get_weather" and sent["tool_choice"] == "auto"

    stream = _client(url).chat.completions.create(
        model=PAIR,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        stream=True,
    )
    pieces, finish = [], None
    for chunk in stream:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                pieces.append(tc)
            finish = choice.finish_reason or finish
    assert finish == "tool_calls" and pieces[0].function.name == "get_weather"
    assert json.loads("".join(p.function.arguments or "" for p in pieces)) == {"city": "Paris"}


def test_openai_sdk_three_step_agent_loop(serve, agent_upstream):
    url = serve(strategy="structure")
    client = _client(url)
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris, then the time?"}]
    r = client.chat.completions.create(model=PAIR, messages=messages, tools=[WEATHER, TIME])
    composed_turn = agent_upstream.requests[-1]["messages"]
    for step in range(2):
        call = r.choices[0].message.tool_calls[0]
        messages += [
            r.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": f"result {step}"},
        ]
        r = client.chat.completions.create(model=PAIR, messages=messages, tools=[WEATHER, TIME])
        sent = agent_upstream.requests[-1]
        assert sent["messages"][: len(composed_turn)] == composed_turn
        assert sent["messages"][-1] == {
            "role": "tool",
            "tool_call_id": call.id,
            "content": f"result {step}",
        }
        if r.choices[0].message.tool_calls is None:
            break
    assert r.choices[0].message.content == "The tool said: result 0"
    assert len(recorded_requests("test/echo")) == 1  # one small call for the one user turn
    assert r.model_extra["prellm"]["strategy"] == "passthrough"


def test_parallel_tool_calls_logprobs_and_n(serve, agent_upstream):
    url = serve(strategy="passthrough")
    r = _client(url).chat.completions.create(
        model=PAIR,
        messages=[{"role": "user", "content": "Weather and time?"}],
        tools=[WEATHER, TIME],
        parallel_tool_calls=True,
    )
    assert [c.function.name for c in r.choices[0].message.tool_calls] == ["get_weather", "get_time"]
    assert agent_upstream.requests[-1]["parallel_tool_calls"] is True

    agent_upstream.responder = lambda body: "plain answer"
    r = _client(url).chat.completions.create(
        model=PAIR, messages=[{"role": "user", "content": "hi"}], logprobs=True, top_logprobs=2, n=2
    )
    sent = agent_upstream.requests[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2 and sent["n"] == 2
    assert len(r.choices) == 2 and r.choices[1].message.content == "plain answer (2)"
    assert r.choices[0].logprobs.content[0].token == "recorded"


def test_fields_agents_send_are_forwarded(serve, agent_upstream):
    agent_upstream.responder = lambda body: "ok"
    url = serve(strategy="passthrough")
    _client(url).chat.completions.create(
        model=PAIR,
        messages=[{"role": "user", "content": "hi"}],
        logit_bias={"50256": -100},
        metadata={"team": "search"},
        reasoning_effort="low",
        seed=3,
        user="u-7",
    )
    sent = agent_upstream.requests[-1]
    assert sent["logit_bias"] == {"50256": -100} and sent["reasoning_effort"] == "low"
    assert sent["metadata"] == {"team": "search"} and sent["seed"] == 3


def test_a_json_tool_call_written_as_text_becomes_a_call():
    from prellm.providers.embedded import tool_call_in_text

    offered = [WEATHER]
    fenced = '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```'
    call = tool_call_in_text(fenced, offered)
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert tool_call_in_text('{"name": "rm_rf", "arguments": {}}', offered) is None
    assert tool_call_in_text("It is sunny in Paris.", offered) is None
    assert tool_call_in_text(fenced, None) is None


@pytest.mark.slow
def test_the_embedded_model_calls_an_offered_tool():
    r = PreLLM("test/echo", "local/qwen2.5-coder-1.5b", "passthrough").run(
        "What is the weather in Paris right now?", tools=[WEATHER], temperature=0, max_tokens=60
    )
    assert r.finish_reason == "tool_calls"
    assert r.tool_calls[0].function.name == "get_weather"
    assert "paris" in r.tool_calls[0].function.arguments.lower()
