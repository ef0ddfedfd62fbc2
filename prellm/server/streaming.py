"""Server-sent events in the shape of OpenAI's ``chat.completion.chunk`` stream.

The large model's tokens are forwarded as they arrive. Stage progress, when
asked for (``prellm.show_stages``), rides in chunks with an empty delta and a
``prellm`` field, which the official SDK's parser accepts. An error after the
stream started is sent as an OpenAI-shaped error event, then ``[DONE]``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from ..errors import PreLLMError
from ..models import PreLLMResult, StageEvent
from .errors import body, from_prellm
from .openai_format import ChunkWriter, sse

log = logging.getLogger("prellm.server")


async def chunks(
    first: Any,
    events: AsyncIterator[Any],
    *,
    model: str,
    include_usage: bool,
    show_stages: bool,
) -> AsyncIterator[bytes]:
    out = ChunkWriter(model)
    yield out.delta({"role": "assistant", "content": ""})
    try:
        event = first
        while True:
            if isinstance(event, str):
                yield out.delta({"content": event})
            elif isinstance(event, StageEvent):
                if show_stages:
                    yield out.delta({}, prellm={"event": event.model_dump(mode="json")})
            elif isinstance(event, PreLLMResult):
                yield out.final(event)
                if include_usage:
                    yield out.usage(event)
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                break
    except PreLLMError as exc:
        err = from_prellm(exc)
        log.warning("stream failed: %s", err.message)
        yield sse(body(err.message, err.type, err.code))
    except Exception as exc:  # never an empty 200: the client learns the stream failed
        log.exception("stream failed")
        yield sse(body(f"internal error: {type(exc).__name__}", "server_error", "internal_error"))
    yield sse("[DONE]")
