"""langchain-tests' standard unit tests for ChatPreLLM."""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_prellm import ChatPreLLM


class TestChatPreLLMUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatPreLLM]:
        return ChatPreLLM

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"small_llm": "test/echo", "large_llm": "test/tools"}

    @property
    def supports_json_mode(self) -> bool:
        return True
