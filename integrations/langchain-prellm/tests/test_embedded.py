"""ChatPreLLM on the real embedded model: invoke, stream and usage, kept short."""

from __future__ import annotations

import pytest

from langchain_prellm import ChatPreLLM

LOCAL = "local/qwen2.5-coder-1.5b"
pytestmark = pytest.mark.slow


def test_invoke_and_usage_on_the_embedded_model():
    # passthrough: one short call (the small model's analysis on 2 CPU cores is the slow part;
    # both stages' usage is asserted on the scripted models)
    llm = ChatPreLLM(small_llm=LOCAL, large_llm=LOCAL, strategy="passthrough", max_tokens=8)
    msg = llm.invoke("Say hello")
    assert msg.text.strip()
    stages = msg.response_metadata["usage_by_stage"]
    assert stages["large"]["prompt_tokens"] > 0 and stages["large"]["completion_tokens"] > 0
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["total_tokens"] == stages["total"]["total_tokens"]
    assert msg.response_metadata["model_name"] == LOCAL


def test_stream_on_the_embedded_model():
    llm = ChatPreLLM(small_llm=LOCAL, large_llm=LOCAL, strategy="passthrough", max_tokens=8)
    chunks = list(llm.stream("Say hello"))
    assert len(chunks) > 2 and "".join(c.text for c in chunks).strip()
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]
    assert chunks[-1].usage_metadata["output_tokens"] > 0
