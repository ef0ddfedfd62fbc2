"""Edge cases of the agent endpoints (OpenAI Responses, Anthropic Messages), driven by the
official SDKs against the app in process, with the recording server as the large model."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from fastapi.testclient import TestClient
from recording_server import tool_agent

from prellm.providers.testing import recorded_requests, register_function
from prellm.server import ServerSettings, create_app

PAIR = "prellm:test/echo->openai/agent-model"
FAILING = "prellm:test/echo->test/fail"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def app():
    """The app in process (``TestClient``), as the SDKs' HTTP client."""
    clients: list[TestClient] = []

    def make(**settings: object) -> TestClient:
        client = TestClient(
            create_app(ServerSettings(**settings)), base_url="http://127.0.0.1"
        ).__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _openai(http: TestClient) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://127.0.0.1/v1", api_key="unused", max_retries=0, http_client=http
    )


def _anthropic(http: TestClient, key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url="http://127.0.0.1", api_key=key, max_retries=0, http_client=http
    )


# --- OpenAI Responses -----------------------------------------------------------------


def test_responses_message_items_and_content_parts_become_chat_messages(app, upstream):
    client = _openai(app(strategy="passthrough"))
    r = client.responses.create(
        model=PAIR,
        input=[
            {"type": "message", "role": "developer", "content": "Be terse."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "line one"},
                    {"type": "input_text", "text": "line two"},
                ],
            },
            {"role": "assistant", "content": [{"type": "output_text", "text": "noted"}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is on this picture?"},
                    {"type": "input_image", "image_url": "https://example.com/cat.png"},
                ],
            },
        ],
    )
    assert r.output_text == "recorded answer" and r.status == "completed"
    sent = upstream.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be terse."}  # developer is the system
    assert sent[1] == {"role": "user", "content": "line one\nline two"}  # text parts, joined
    assert sent[2] == {"role": "assistant", "content": "noted"}
    assert sent[3]["content"] == [
        {"type": "text", "text": "What is on this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]


def test_responses_parallel_function_calls_join_one_assistant_turn(app, upstream):
    upstream.responder = tool_agent
    client = _openai(app(strategy="passthrough"))
    r = client.responses.create(
        model=PAIR,
        input=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": "rain"},
        ],
        tools=[WEATHER],
    )
    assert r.output_text == "The tool said: rain"
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in sent[1]["tool_calls"]] == ["c1", "c2"]
    assert sent[2] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}


def test_responses_sampling_limits_and_a_named_tool_choice_reach_the_model(app, upstream):
    upstream.responder = tool_agent
    client = _openai(app(strategy="passthrough"))
    r = client.responses.create(
        model=PAIR,
        input="Weather in Paris?",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        max_output_tokens=64,
        temperature=0.25,
        top_p=0.5,
        parallel_tool_calls=False,
    )
    call = next(o for o in r.output if o.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    sent = upstream.requests[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (64, 0.25, 0.5)
    assert sent["parallel_tool_calls"] is False
    client.responses.create(model=PAIR, input="Weather?", tools=[WEATHER], tool_choice="required")
    assert upstream.requests[-1]["tool_choice"] == "required"


def test_responses_refuse_hosted_tools_before_calling_any_model(app, upstream):
    client = _openai(app(strategy="passthrough"))
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model=PAIR, input="Find news", tools=[{"type": "web_search_preview"}]
        )
    assert err.value.code == "unsupported_parameter"
    assert "web_search_preview" in err.value.message
    assert upstream.requests == [] and recorded_requests() == []


def test_responses_refuse_previous_response_id_as_an_unknown_field(app, upstream):
    client = _openai(app(strategy="passthrough"))
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=PAIR, input="Go on", previous_response_id="resp_123")
    assert "previous_response_id" in err.value.message and upstream.requests == []


def test_responses_stream_function_calls_as_items_with_argument_deltas(app, upstream):
    upstream.responder = tool_agent
    client = _openai(app(strategy="passthrough"))
    events = list(
        client.responses.create(model=PAIR, input="Weather?", tools=[WEATHER], stream=True)
    )
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [e.item.type for e in added] == ["function_call"]
    assert added[0].item.name == "get_weather" and added[0].output_index == 1
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(deltas) == {"city": "Paris"}
    done = events[-1]
    assert done.type == "response.completed"
    call = done.response.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))


def test_responses_stream_ends_with_an_error_event_when_the_model_fails(app):
    client = _openai(app(strategy="classify"))
    events = list(client.responses.create(model=FAILING, input="Deploy the app", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "error" and events[-1].code == "upstream_failed"
    assert "configured to fail" in events[-1].message
    assert not any(e.type == "response.completed" for e in events)


# --- Anthropic Messages ---------------------------------------------------------------


def test_messages_image_blocks_and_tool_results_become_chat_parts(app, upstream):
    client = _anthropic(app(strategy="passthrough"))
    r = client.messages.create(
        model=PAIR,
        max_tokens=50,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}],
            },
            {"role": "assistant", "content": "Hello."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/b.png"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "tu_1",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": [{"type": "text", "text": "cold"}],
                    }
                ],
            },
        ],
    )
    assert r.content[0].text == "recorded answer" and r.stop_reason == "end_turn"
    sent = upstream.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1] == {"role": "user", "content": "Hi\nthere"}
    assert sent[2] == {"role": "assistant", "content": "Hello."}
    assert sent[3]["content"] == [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
    ]
    assert sent[4].get("content") is None  # a tool call without text
    assert json.loads(sent[4]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    assert sent[5] == {"role": "tool", "tool_call_id": "tu_1", "content": "cold"}


def test_messages_sampling_and_stop_sequences_reach_the_model(app, upstream):
    client = _anthropic(app(strategy="passthrough"))
    client.messages.create(
        model=PAIR,
        max_tokens=30,
        stop_sequences=["END"],
        extra_body={"temperature": 0.5, "top_p": 0.75, "top_k": 5},  # gone from this SDK
        messages=[{"role": "user", "content": "Count to three"}],
    )
    sent = upstream.requests[-1]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (30, 0.5, 0.75)
    assert sent["stop"] == ["END"] and sent["top_k"] == 5


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
        ({"type": "any"}, "required"),
        ({"type": "auto"}, "auto"),
    ],
)
def test_messages_tool_choice_maps_to_openai_tool_choice(app, upstream, choice, expected):
    upstream.responder = tool_agent
    client = _anthropic(app(strategy="passthrough"))
    r = client.messages.create(
        model=PAIR,
        max_tokens=50,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER_ANTHROPIC],
        tool_choice=choice,
    )
    assert r.stop_reason == "tool_use"
    assert upstream.requests[-1]["tool_choice"] == expected


def test_messages_tool_arguments_that_are_not_json_come_back_raw():
    register_function(
        "raw_args",
        lambda messages, params: {
            "tool_calls": [{"name": "get_weather", "arguments": "city=Paris"}]
        },
    )
    client = TestClient(
        create_app(ServerSettings(strategy="passthrough")), base_url="http://127.0.0.1"
    )
    with client:
        r = _anthropic(client).messages.create(
            model="prellm:test/echo->test/raw_args",
            max_tokens=50,
            messages=[{"role": "user", "content": "Weather?"}],
            tools=[WEATHER_ANTHROPIC],
        )
    use = next(b for b in r.content if b.type == "tool_use")
    assert use.input == {"_raw": "city=Paris"} and r.stop_reason == "tool_use"


def test_messages_failing_model_is_a_502_and_a_stream_error_event(app):
    http = app(strategy="classify")
    client = _anthropic(http)
    with pytest.raises(anthropic.APIStatusError) as err:
        client.messages.create(
            model=FAILING, max_tokens=20, messages=[{"role": "user", "content": "Deploy"}]
        )
    assert err.value.status_code == 502 and "configured to fail" in str(err.value)
    # In Anthropic's error shape, as Anthropic's clients read it.
    assert err.value.body == {
        "type": "error",
        "error": {"type": "api_error", "message": "test/fail: test model configured to fail"},
        "request_id": None,
    }
    r = http.post(
        "/v1/messages",
        json={
            "model": FAILING,
            "max_tokens": 20,
            "stream": True,
            "messages": [{"role": "user", "content": "Deploy"}],
        },
    )
    events = [
        json.loads(line.removeprefix("data: "))
        for line in r.text.splitlines()
        if line.startswith("data: ")
    ]
    assert events[0]["type"] == "message_start"
    assert events[-1] == {
        "type": "error",
        "error": {"type": "api_error", "message": "test/fail: test model configured to fail"},
    }
    assert not any(e["type"] == "message_stop" for e in events)


def test_messages_refusals_come_in_anthropics_error_shape_and_chat_keeps_openais(app):
    http = app(strategy="classify")
    bad = http.post("/v1/messages", json={"model": "test/echo", "messages": "nope"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "error"
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert "messages" in bad.json()["error"]["message"]
    missing = http.post("/v1/messages/nothing-here", json={})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    chat = http.post("/v1/chat/completions", json={"model": "test/echo", "messages": "nope"})
    assert chat.status_code == 400
    assert set(chat.json()) == {"error"} and chat.json()["error"]["code"] == "invalid_request"
