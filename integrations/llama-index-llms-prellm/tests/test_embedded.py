"""PreLLM (LlamaIndex) on the real embedded model: chat, stream and complete, kept short."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from llama_index.llms.prellm import PreLLM

LOCAL = "local/qwen2.5-coder-1.5b"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm() -> PreLLM:
    return PreLLM(small_llm=LOCAL, large_llm=LOCAL, strategy="passthrough", max_tokens=8)


def test_chat_stream_and_complete_on_the_embedded_model(llm: PreLLM):
    msgs = [ChatMessage(role=MessageRole.USER, content="Say hello")]
    chat = llm.chat(msgs)
    assert chat.message.content and chat.raw["usage"]["completion_tokens"] > 0
    assert chat.additional_kwargs["model"] == LOCAL
    parts = list(llm.stream_chat(msgs))
    assert len(parts) > 1 and parts[-1].message.content
    assert "".join(p.delta or "" for p in parts) == parts[-1].message.content
    assert llm.complete("Say hi").text.strip()
