"""ChatPreLLM on preLLM's scripted models: what reaches each model, and what comes back."""

from __future__ import annotations

import asyncio
import json

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.tools import tool
from prellm.providers.testing import recorded_requests
from pydantic import BaseModel

from langchain_prellm import ChatPreLLM

SMALL, LARGE = "test/echo", "test/tools"


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


class Ticket(BaseModel):
    # Not "title": preLLM's compact_schema drops a property of that name (a core bug).
    summary: str
    priority: int


def _llm(**kwargs: object) -> ChatPreLLM:
    return ChatPreLLM(small_llm=SMALL, large_llm=LARGE, **kwargs)  # type: ignore[arg-type]


def test_the_large_model_gets_the_composed_prompt_and_generation_params():
    llm = _llm(strategy="structure", user_context={"team": "payments"}, temperature=0.2)
    msg = llm.invoke([SystemMessage("Be terse."), HumanMessage("deploy the api to staging")])
    sent = recorded_requests(LARGE)[-1]
    assert sent["params"]["temperature"] == 0.2
    user = sent["messages"][-1]["content"]
    assert "deploy the api to staging" in user and "team: payments" in user
    assert sent["messages"][0] == {"role": "system", "content": "Be terse."}
    assert msg.response_metadata["strategy"] == "structure"
    assert msg.response_metadata["decomposition"]["composed_prompt"] == user
    assert recorded_requests(SMALL), "the small model analysed the query"


def test_usage_counts_both_stages_and_metadata_says_how_the_answer_was_made():
    msg = _llm(strategy="structure").invoke("deploy the api to staging")
    by_stage = msg.response_metadata["usage_by_stage"]
    assert set(by_stage) >= {"small", "large", "total"}
    small, large = by_stage["small"], by_stage["large"]
    assert msg.usage_metadata == {
        "input_tokens": small["prompt_tokens"] + large["prompt_tokens"],
        "output_tokens": small["completion_tokens"] + large["completion_tokens"],
        "total_tokens": by_stage["total"]["total_tokens"],
    }
    meta = msg.response_metadata
    assert meta["model_name"] == LARGE and meta["small_model_name"] == SMALL
    assert meta["intent"] == "deploy" and isinstance(meta["missing"], list)
    assert meta["fallback_reason"] is None and meta["cost_usd"] == 0.0
    assert set(meta["timings_ms"]) >= {"small", "large", "total"}


def test_per_call_options_override_the_fields():
    llm = _llm(strategy="structure")
    msg = llm.invoke("deploy the api", strategy="passthrough", temperature=0.7)
    assert msg.response_metadata["strategy"] == "passthrough"
    assert recorded_requests(LARGE)[-1]["params"]["temperature"] == 0.7
    assert recorded_requests(LARGE)[-1]["messages"][-1]["content"] == "deploy the api"


def test_streaming_puts_usage_and_metadata_on_the_last_chunk_only():
    chunks = list(_llm(strategy="passthrough").stream("one two three four"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    with_usage = [c for c in chunks if c.usage_metadata]
    assert with_usage == [chunks[-1]] and chunks[-1].chunk_position == "last"
    assert "".join(c.text for c in chunks) == "one two three four"
    assert len(chunks) > 2, "the text arrives in pieces"


def test_tools_reach_only_the_large_model_and_come_back_as_tool_calls():
    llm = _llm().bind_tools([get_weather], tool_choice="any")
    msg = llm.invoke("What is the weather in 'Paris'?")
    assert msg.tool_calls[0]["name"] == "get_weather"
    assert msg.tool_calls[0]["args"] == {"city": "Paris"}
    sent = recorded_requests(LARGE)[-1]["params"]
    assert sent["tool_choice"] == "required"
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert all("get_weather" not in json.dumps(r) for r in recorded_requests(SMALL))


def test_an_agent_turn_with_a_tool_result_is_answered():
    llm = _llm().bind_tools([get_weather])
    question = HumanMessage("What is the weather in 'Oslo'?")
    call = llm.invoke([question])
    assert isinstance(call, AIMessage) and call.tool_calls
    result = get_weather.invoke(call.tool_calls[0])
    answer = llm.invoke([question, call, result])
    assert answer.content == "Tool results: sunny in Oslo"
    assert answer.response_metadata["turn"] == "continuation"
    sent = recorded_requests(LARGE)[-1]["messages"]
    assert sent[-1]["role"] == "tool" and sent[-1]["tool_call_id"] == call.tool_calls[0]["id"]


def test_structured_output_uses_prellm_response_schemas():
    ticket = _llm().with_structured_output(Ticket).invoke("open a ticket")
    assert isinstance(ticket, Ticket)
    rf = recorded_requests(LARGE)[-1]["params"]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "Ticket"


def test_structured_output_by_function_calling_and_json_mode():
    by_tool = _llm().with_structured_output(Ticket, method="function_calling")
    assert by_tool.invoke("open a ticket 'disk full' at priority 2") == Ticket(
        summary="disk full", priority=2
    )
    assert recorded_requests(LARGE)[-1]["params"]["tool_choice"]["function"]["name"] == "Ticket"
    raw = (
        _llm()
        .with_structured_output(
            {"title": "t", "type": "object", "properties": {}}, method="json_mode", include_raw=True
        )
        .invoke("reply with 'summary' and 'priority' as JSON")
    )
    assert raw["parsed"] == {"summary": "summary", "priority": "priority"}
    assert raw["parsing_error"] is None and isinstance(raw["raw"], AIMessage)
    assert recorded_requests(LARGE)[-1]["params"]["response_format"] == {"type": "json_object"}


def test_a_streamed_structured_answer_arrives_in_the_last_chunk():
    chunks = list(_llm().with_structured_output(Ticket).stream("open a ticket"))
    assert chunks and isinstance(chunks[-1], Ticket)


def test_the_sync_api_works_inside_a_running_event_loop():
    async def main() -> tuple[str, str]:
        llm = _llm(strategy="passthrough")
        text = "".join(c.text for c in llm.stream("streamed here"))
        return llm.invoke("invoked here").text, text

    assert asyncio.run(main()) == ("invoked here", "streamed here")


async def test_async_batch_and_model_override():
    llm = _llm(strategy="passthrough")
    out = await llm.abatch(["first", "second"])
    assert [m.text for m in out] == ["first", "second"]
    msg = await llm.ainvoke("hello", model="test/echo")
    assert msg.response_metadata["model_name"] == "test/echo"
    assert recorded_requests("test/echo")[-1]["messages"][-1]["content"] == "hello"
