"""PreLLMChatGenerator in a pipeline on the real embedded model (one short call)."""

from __future__ import annotations

import pytest
from haystack import Pipeline
from haystack.components.builders import ChatPromptBuilder
from haystack.dataclasses import ChatMessage

from haystack_integrations.components.generators.prellm import PreLLMChatGenerator

LOCAL = "local/qwen2.5-coder-1.5b"
pytestmark = pytest.mark.slow


def test_a_pipeline_on_the_embedded_model():
    pipe = Pipeline()
    template = [ChatMessage.from_user("Say {{ word }}")]
    pipe.add_component("prompt", ChatPromptBuilder(template=template, required_variables="*"))
    gen = PreLLMChatGenerator(LOCAL, LOCAL, "passthrough", generation_kwargs={"max_tokens": 8})
    pipe.add_component("llm", gen)
    pipe.connect("prompt.prompt", "llm.messages")
    reply = Pipeline.loads(pipe.dumps()).run({"prompt": {"word": "hello"}})["llm"]["replies"][0]
    assert reply.text and reply.text.strip()
    assert reply.meta["model"] == LOCAL and reply.meta["usage"]["completion_tokens"] > 0
