"""The litellm handler for ``test/`` models, over the scripted model in ``testing``.

Imported only when litellm is (``prellm.providers.litellm()`` registers it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from litellm import CustomLLM
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from ..errors import ProviderError
from .testing import Reply, _reply, _tool_calls, _usage, _vector


def _litellm_reply(model: str, messages: list[dict[str, Any]], params: Any) -> Reply:
    try:
        return _reply(model, messages, dict(params))
    except ProviderError as exc:  # litellm maps its own error type to a status
        raise CustomLLMError(status_code=exc.status_code or 500, message=exc.cause) from None


class TestLLM(CustomLLM):
    def completion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response: ModelResponse,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ):  # type: ignore[override]  # noqa: E501
        reply = _litellm_reply(model, messages, optional_params)
        text = reply if isinstance(reply, str) else reply.get("content") or ""
        message = model_response.choices[0].message  # type: ignore[union-attr]
        message.content = text if isinstance(reply, str) else reply.get("content")
        if isinstance(reply, dict) and reply.get("tool_calls"):
            from litellm.types.utils import ChatCompletionMessageToolCall

            message.tool_calls = [ChatCompletionMessageToolCall(**c) for c in _tool_calls(reply)]
            model_response.choices[0].finish_reason = "tool_calls"
        p, c = _usage(
            messages, text + json.dumps(_tool_calls(reply) if isinstance(reply, dict) else [])
        )
        model_response.usage = Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)  # type: ignore[attr-defined]
        return model_response

    async def acompletion(self, *args, **kwargs):  # type: ignore[override]
        return self.completion(*args, **kwargs)

    def streaming(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ) -> Iterator[GenericStreamingChunk]:  # type: ignore[override]  # noqa: E501
        reply = _litellm_reply(model, messages, optional_params)
        text = reply if isinstance(reply, str) else reply.get("content") or ""
        calls = _tool_calls(reply) if isinstance(reply, dict) else []
        words = text.split(" ") if text else []
        for i, w in enumerate(words):
            yield {
                "text": w if i == 0 else " " + w,
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
                "tool_use": None,
            }
        for i, call in enumerate(calls):
            yield {
                "text": "",
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
                "tool_use": {**call, "index": i},  # type: ignore[typeddict-item]
            }
        p, c = _usage(messages, text + json.dumps(calls))
        yield {
            "text": "",
            "is_finished": True,
            "finish_reason": "tool_calls" if calls else "stop",
            "index": 0,
            "tool_use": None,
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
        }

    async def astreaming(self, *args, **kwargs) -> AsyncIterator[GenericStreamingChunk]:  # type: ignore[override]
        for chunk in self.streaming(*args, **kwargs):
            yield chunk

    def embedding(self, model, input, model_response, *args, **kwargs):  # type: ignore[override]
        """Deterministic unit vectors from each text's hash: equal texts, equal vectors."""
        dims = int((kwargs.get("optional_params") or {}).get("dimensions") or 8)
        model_response.data = [
            {"object": "embedding", "index": i, "embedding": _vector(str(text), dims)}
            for i, text in enumerate(input)
        ]
        tokens = sum(len(str(text).split()) for text in input)
        model_response.usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        return model_response

    async def aembedding(self, *args, **kwargs):  # type: ignore[override]
        return self.embedding(*args, **kwargs)
