"""Server-sent events in the shape of OpenAI's ``chat.completion.chunk`` stream.

The large model's tokens are forwarded as they arrive. Stage progress, when
asked for (``prellm.show_stages``), rides in chunks with an empty delta and a
``prellm`` field, which the official SDK's parser accepts. An error after the
stream started is sent as an OpenAI-shaped error event, then ``[DONE]``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ..errors import PreLLMError
from ..models import PreLLMResult, StageEvent
from .errors import body, from_prellm

log = logging.getLogger("prellm.server")


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def sse(data: dict[str, Any] | str) -> bytes:
    text = (
        data
        if isinstance(data, str)
        else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    )
    return f"data: {text}\n\n".encode()


async def chunks(
    first: Any,
    events: AsyncIterator[Any],
    *,
    model: str,
    include_usage: bool,
    show_stages: bool,
    summary: Any,
) -> AsyncIterator[bytes]:
    cid, created = completion_id(), int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    try:
        pending = [first]
        while True:
            if pending:
                event = pending.pop()
            else:
                try:
                    event = await events.__anext__()
                except StopAsyncIteration:
                    break
            if isinstance(event, str):
                yield chunk({"content": event})
            elif isinstance(event, StageEvent):
                if show_stages:
                    yield chunk({}, prellm={"event": event.model_dump(mode="json")})
            elif isinstance(event, PreLLMResult):
                yield chunk({}, finish=event.finish_reason or "stop", prellm=summary(event))
                if include_usage:
                    total = event.usage["total"]
                    yield sse(
                        {
                            "id": cid,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model,
                            "choices": [],
                            "usage": {
                                "prompt_tokens": total.prompt_tokens,
                                "completion_tokens": total.completion_tokens,
                                "total_tokens": total.total_tokens,
                            },
                        }
                    )
    except PreLLMError as exc:
        err = from_prellm(exc)
        log.warning("stream failed: %s", err.message)
        yield sse(body(err.message, err.type, err.code))
    except Exception as exc:  # never an empty 200: the client learns the stream failed
        log.exception("stream failed")
        yield sse(body(f"internal error: {type(exc).__name__}", "server_error", "internal_error"))
    yield sse("[DONE]")
