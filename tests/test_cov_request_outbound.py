"""What leaves the machine is redacted in every field that carries text: message names and
extra keys, legacy function calls, image parts, function definitions, a ``stop`` string and
a response schema's description; asserted on what the upstream received."""

from __future__ import annotations

import json

from prellm import PreLLM

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_every_text_field_of_a_request_is_redacted_before_it_leaves(provider, remote):
    messages = [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "Who am I?", "name": SECRET, "x_note": f"n {SECRET}"},
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "lookup", "arguments": f"token={SECRET}"},
        },
        {"role": "function", "name": "lookup", "content": "found"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"https://img.example/a.png?sig={SECRET}"},
                },
            ],
        },
    ]
    functions = [
        {
            "name": "lookup",
            "description": f"Look up with {SECRET}",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    schema = {
        "name": "answer",
        "description": f"Answer; key {SECRET}",
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
    }
    r = PreLLM("test/echo", "openai/m", "passthrough").run(
        messages=messages,
        functions=functions,
        stop=f"STOP {SECRET}",
        response_format={"type": "json_schema", "json_schema": schema},
        num_retries=0,
        **remote,
    )
    assert r.content == "recorded answer"
    sent = provider.requests[-1]
    assert SECRET not in json.dumps(sent)
    user = sent["messages"][1]
    assert user["name"] == "[SECRET_1]" and user["x_note"] == "n [SECRET_1]"
    assert sent["messages"][2]["function_call"]["name"] == "lookup"
    assert sent["messages"][2]["function_call"]["arguments"].startswith("token=")
    image = sent["messages"][-1]["content"][1]
    assert image["image_url"]["url"].startswith("https://img.example/a.png?sig=")
    assert sent["functions"][0]["description"].startswith("Look up with ")
    assert sent["functions"][0]["parameters"]["properties"] == {"q": {"type": "string"}}
    assert sent["stop"] in ("STOP [SECRET_1]", ["STOP [SECRET_1]"])
    assert sent["response_format"]["json_schema"]["description"].startswith("Answer; key ")


def test_tool_call_arguments_that_are_json_stay_json_when_redacted(provider, remote):
    messages = [
        {"role": "user", "content": "Call it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "auth", "arguments": json.dumps({"token": SECRET})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    PreLLM("test/echo", "openai/m", "passthrough").run(messages=messages, num_retries=0, **remote)
    call = provider.requests[-1]["messages"][1]["tool_calls"][0]
    args = json.loads(call["function"]["arguments"])  # still valid JSON
    assert set(args) == {"token"} and SECRET not in args["token"]
