"""Server-sent events in the shape of OpenAI's ``chat.completion.chunk`` stream.

The large model's tokens are forwarded as they arrive. Stage progress, when
asked for (``prellm.show_stages``), rides in chunks with an empty delta and a
``prellm`` field, which the official SDK's parser accepts. An error after the
stream started is sent as an OpenAI-shaped error event, then ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from ..errors import PreLLMError
from ..models import PreLLMResult, StageEvent, ToolCallDelta
from ..observability.logging import get_logger
from .errors import body, from_prellm
from .openai_format import ChunkWriter, sse

log = get_logger("prellm.server")


async def chunks(
    first: Any,
    events: AsyncIterator[Any],
    *,
    model: str,
    include_usage: bool,
    show_stages: bool,
    keepalive_s: float = 10.0,
) -> AsyncIterator[bytes]:
    """The SSE body. While the engine is quiet (a slow model), an SSE comment goes out every
    ``keepalive_s`` so the client and any proxy in between know the stream is alive."""
    out = ChunkWriter(model)
    pending: asyncio.Future[Any] | None = None
    yield out.delta({"role": "assistant", "content": ""})
    try:
        event = first
        while True:
            for data in _encode(out, event, include_usage, show_stages):
                yield data
            pending = asyncio.ensure_future(events.__anext__())
            while not (await asyncio.wait({pending}, timeout=keepalive_s))[0]:
                yield b": keep-alive\n\n"
            try:
                event = pending.result()
            except StopAsyncIteration:
                break
    except PreLLMError as exc:
        err = from_prellm(exc)
        log.warning("stream failed: %s", err.message)
        yield sse(body(err.message, err.type, err.code))
    except Exception as exc:  # never an empty 200: the client learns the stream failed
        log.exception("stream failed")
        yield sse(body(f"internal error: {type(exc).__name__}", "server_error", "internal_error"))
    finally:
        # The client may have gone: stop the request now, so its books settle now.
        await _close(events, pending)
    yield sse("[DONE]")


async def _close(events: AsyncIterator[Any], pending: asyncio.Future[Any] | None) -> None:
    if pending is not None and not pending.done():
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(RuntimeError):
            await aclose()


def _encode(out: ChunkWriter, event: Any, include_usage: bool, show_stages: bool) -> list[bytes]:
    if isinstance(event, str):
        return [out.delta({"content": event})]
    if isinstance(event, ToolCallDelta):
        return [out.tool_call(event)]
    if isinstance(event, StageEvent):
        return (
            [out.delta({}, prellm={"event": event.model_dump(mode="json")})] if show_stages else []
        )
    if isinstance(event, PreLLMResult):
        return [out.final(event), *([out.usage(event)] if include_usage else [])]
    return []


class ClosingStreamingResponse(StreamingResponse):
    """A streaming response that closes its body when the client goes away mid-stream.

    Starlette stops iterating the body but leaves the generator suspended until garbage
    collection; closing it here ends the request at once, so its books settle at once.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(RuntimeError):
                    await aclose()
