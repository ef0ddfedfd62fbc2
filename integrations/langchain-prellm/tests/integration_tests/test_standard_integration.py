"""langchain-tests' standard integration tests, on preLLM's scripted test models.

The small model is ``test/echo`` (it answers every analysis with a schema-valid
instance); the large one is ``test/tools``, which calls an offered tool with
arguments taken from the user's text, answers tool results, and follows
response schemas. Both stages really run: the engine, its strategies and its
streaming are preLLM's own.
"""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_prellm import ChatPreLLM


class TestChatPreLLMIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatPreLLM]:
        return ChatPreLLM

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"small_llm": "test/echo", "large_llm": "test/tools"}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "test/echo"
