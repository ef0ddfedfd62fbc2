"""The endpoints agent clients call, each with its official client, behind the same path."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest
from recording_server import tool_agent

from prellm.providers.testing import recorded_requests

PAIR = "prellm:test/echo->openai/agent-model"
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
WEATHER_RESPONSES = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def upstream(provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-secret-0000")
    provider.responder = tool_agent
    return provider


def _anthropic(url: str, key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=url.removesuffix("/v1"), api_key=key, max_retries=0, timeout=30
    )


def _openai(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=30)


# --- Anthropic Messages -------------------------------------------------------------


def test_anthropic_sdk_messages_create_with_a_tool_loop(serve, upstream):
    url = serve(strategy="structure", api_keys=["k-claude"])
    client = _anthropic(url, "k-claude")
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    r = client.messages.create(
        model=PAIR, max_tokens=200, system="Be brief.", messages=msgs, tools=[WEATHER_ANTHROPIC]
    )
    assert r.stop_reason == "tool_use"
    use = next(b for b in r.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    sent = upstream.requests[-1]
    assert sent["messages"][0]["role"] == "system" and sent["messages"][0]["content"].startswith(
        "Be brief."
    )
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert sent["max_tokens"] == 200
    msgs += [
        {"role": "assistant", "content": [b.model_dump() for b in r.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 C"}],
        },
    ]
    r2 = client.messages.create(
        model=PAIR, max_tokens=200, system="Be brief.", messages=msgs, tools=[WEATHER_ANTHROPIC]
    )
    assert r2.stop_reason == "end_turn" and r2.content[0].text == "The tool said: 18 C"
    sent = upstream.requests[-1]
    assert sent["messages"][-1] == {"role": "tool", "tool_call_id": use.id, "content": "18 C"}
    assert len(recorded_requests("test/echo")) == 1  # the tool step did not run the small model
    assert r2.usage.input_tokens > 0


def test_anthropic_sdk_messages_stream_text_and_tools(serve, upstream):
    url = serve(strategy="passthrough")
    upstream.responder = lambda body: "alpha beta gamma"
    with _anthropic(url).messages.stream(
        model=PAIR, max_tokens=100, messages=[{"role": "user", "content": "Say three words"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "alpha beta gamma" and final.stop_reason == "end_turn"
    upstream.responder = tool_agent
    with _anthropic(url).messages.stream(
        model=PAIR,
        max_tokens=100,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER_ANTHROPIC],
    ) as stream:
        final = stream.get_final_message()
    use = next(b for b in final.content if b.type == "tool_use")
    assert final.stop_reason == "tool_use" and use.input == {"city": "Paris"}


# --- OpenAI Responses ---------------------------------------------------------------


def test_responses_create_plain_tools_and_stream(serve, upstream):
    url = serve(strategy="passthrough")
    client = _openai(url)
    upstream.responder = lambda body: "plain response"
    r = client.responses.create(model=PAIR, input="Hello", instructions="Be brief.")
    assert r.output_text == "plain response"
    assert upstream.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}

    upstream.responder = tool_agent
    r = client.responses.create(model=PAIR, input="Weather in Paris?", tools=[WEATHER_RESPONSES])
    call = next(o for o in r.output if o.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    r = client.responses.create(
        model=PAIR,
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        tools=[WEATHER_RESPONSES],
    )
    assert r.output_text == "The tool said: sunny"

    upstream.responder = lambda body: "streamed words here"
    kinds, text = [], ""
    for event in client.responses.create(model=PAIR, input="Stream please", stream=True):
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert text == "streamed words here"


# --- pass-through endpoints and models ------------------------------------------------


def test_completions_and_embeddings_pass_through(serve, upstream):
    upstream.responder = lambda body: "completed text"
    url = serve(small="test/echo", large="openai/agent-model")
    client = _openai(url)
    r = client.completions.create(model="openai/agent-model", prompt="Once upon", max_tokens=5)
    assert r.choices[0].text == "completed text"
    assert upstream.requests[-1]["prompt"] == "Once upon"
    e = client.embeddings.create(model="openai/embed-model", input=["a", "bb"])
    assert [d.embedding[0] for d in e.data] == [1.0, 2.0]
    assert upstream.requests[-1]["model"] == "embed-model"


def test_embeddings_on_the_test_model_and_empty_inputs(serve):
    url = serve(small="test/echo", large="test/echo")
    client = _openai(url)
    e = client.embeddings.create(model="prellm:default", input=["same", "other", "same"])
    vectors = [d.embedding for d in e.data]
    assert vectors[0] == vectors[2] != vectors[1] and len(vectors[0]) == 8
    for path, body in (("embeddings", {"input": []}), ("completions", {"prompt": []})):
        r = httpx.post(f"{url}/{path}", json={"model": "prellm:default", **body}, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


def test_openapi_documents_every_body_and_its_errors(serve):
    doc = httpx.get(serve().removesuffix("/v1") + "/openapi.json", timeout=10).json()
    for path in ("chat/completions", "messages", "responses", "completions", "embeddings"):
        op = doc["paths"][f"/v1/{path}"]["post"]
        assert "$ref" in op["requestBody"]["content"]["application/json"]["schema"]
        assert {"400", "401", "415", "502"} <= set(op["responses"])
    assert "404" in doc["paths"]["/v1/models/{model_id}"]["get"]["responses"]


def test_secrets_in_a_completion_prompt_do_not_leave(serve, upstream):
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    upstream.responder = lambda body: "ok"
    url = serve(small="test/echo", large="openai/agent-model")
    _openai(url).completions.create(model="openai/agent-model", prompt=f"token {secret}")
    assert secret not in json.dumps(upstream.requests[-1])


def test_get_a_model_and_unknown_ones(serve):
    url = serve(small="test/echo", large="openai/agent-model")
    assert _openai(url).models.retrieve("prellm:default").id == "prellm:default"
    r = httpx.get(f"{url}/models/nope", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = httpx.delete(f"{url}/chat/completions", timeout=10)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_a_header_chooses_the_strategy(serve, upstream):
    upstream.responder = lambda body: "ok"
    url = serve(strategy="structure")
    r = httpx.post(
        f"{url}/chat/completions",
        json={"model": PAIR, "messages": [{"role": "user", "content": "Deploy app"}]},
        headers={"X-Prellm-Strategy": "passthrough"},
        timeout=30,
    )
    assert r.json()["prellm"]["strategy"] == "passthrough" and recorded_requests("test/echo") == []


# --- LangChain ----------------------------------------------------------------------


def test_langchain_bind_tools_invoke_and_stream(serve, upstream):
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return "sunny"

    url = serve(strategy="structure")
    llm = ChatOpenAI(model=PAIR, base_url=url, api_key="unused", max_retries=0).bind_tools(
        [get_weather]
    )
    msg = llm.invoke("Weather in Paris?")
    assert msg.tool_calls[0]["name"] == "get_weather" and msg.tool_calls[0]["args"] == {
        "city": "Paris"
    }
    chunks = list(llm.stream("Weather in Paris?"))
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert merged.tool_calls[0]["args"] == {"city": "Paris"}


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
def test_langchain_with_structured_output(serve, upstream, method):
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str

    def responder(body):
        if body.get("tools"):
            return tool_agent(body)
        return json.dumps({"city": "Paris"})

    upstream.responder = responder
    url = serve(strategy="passthrough")
    llm = ChatOpenAI(model=PAIR, base_url=url, api_key="unused", max_retries=0)
    out = llm.with_structured_output(Weather, method=method).invoke(
        "Weather in Paris? Reply in JSON."
    )
    assert out == Weather(city="Paris")
