"""The litellm handler for ``test/`` models, over the scripted model in ``testing``.

Imported only when litellm is (``prellm.providers.litellm()`` registers it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from ..errors import ProviderError
from .litellm_handler import Call, Handler
from .testing import Reply, _reply, _tool_calls, _usage, _vector


def _litellm_reply(call: Call) -> Reply:
    try:
        return _reply(call.model, call.messages, call.params)
    except ProviderError as exc:  # litellm maps its own error type to a status
        raise CustomLLMError(  # type: ignore[no-untyped-call]
            status_code=exc.status_code or 500, message=exc.cause
        ) from None


def _chunk(text: str = "", tool_use: Any = None) -> GenericStreamingChunk:
    return {
        "text": text,
        "is_finished": False,
        "finish_reason": "",
        "usage": None,
        "index": 0,
        "tool_use": tool_use,
    }


class TestLLM(Handler):
    def answer(self, call: Call) -> ModelResponse:
        from litellm.types.utils import ChatCompletionMessageToolCall

        reply = _litellm_reply(call)
        text = reply if isinstance(reply, str) else reply.get("content") or ""
        response = call.response
        message = response.choices[0].message
        message.content = text if isinstance(reply, str) else reply.get("content")
        if isinstance(reply, dict) and reply.get("tool_calls"):
            message.tool_calls = [ChatCompletionMessageToolCall(**c) for c in _tool_calls(reply)]
            response.choices[0].finish_reason = "tool_calls"
        calls = _tool_calls(reply) if isinstance(reply, dict) else []
        p, c = _usage(call.messages, text + json.dumps(calls))
        response.usage = Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)  # type: ignore[attr-defined]
        return response

    async def aanswer(self, call: Call) -> ModelResponse:
        return self.answer(call)  # instant: no thread needed

    def chunks(self, call: Call) -> Iterator[GenericStreamingChunk]:
        reply = _litellm_reply(call)
        text = reply if isinstance(reply, str) else reply.get("content") or ""
        calls = _tool_calls(reply) if isinstance(reply, dict) else []
        for i, word in enumerate(text.split(" ") if text else []):
            yield _chunk(word if i == 0 else " " + word)
        for i, tool_call in enumerate(calls):
            yield _chunk(tool_use={**tool_call, "index": i})
        p, c = _usage(call.messages, text + json.dumps(calls))
        yield {
            "text": "",
            "is_finished": True,
            "finish_reason": "tool_calls" if calls else "stop",
            "index": 0,
            "tool_use": None,
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
        }

    def embedding(
        self, model: str, input: list[Any], model_response: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Deterministic unit vectors from each text's hash: equal texts, equal vectors."""
        dims = int((kwargs.get("optional_params") or {}).get("dimensions") or 8)
        model_response.data = [
            {"object": "embedding", "index": i, "embedding": _vector(str(text), dims)}
            for i, text in enumerate(input)
        ]
        tokens = sum(len(str(text).split()) for text in input)
        model_response.usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        return model_response

    async def aembedding(self, *args: Any, **kwargs: Any) -> Any:
        return self.embedding(*args, **kwargs)
