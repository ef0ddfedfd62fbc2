"""The one request path, in order. Read this function to know what preLLM does.

    admit → route → gather → analyse → clarify → compose → answer → finish

Each stage is a module of this package with one entry function taking the
engine's frozen ``EngineDeps`` and the request's ``RequestState``. Slots the
coming stages take: key and rate checks in ``admit``; tool-call continuations
and big-input condensing before ``analyse``; a decomposition cache around it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..models import PreLLMResult, StageEvent
from .admit import admit
from .analyse import analyse
from .answer import answer
from .clarify import clarify
from .compose import compose
from .deps import EngineDeps
from .finish import record, result, settle
from .gather import gather
from .options import RunOptions
from .route import route

Event = str | StageEvent | PreLLMResult


async def run_request(
    deps: EngineDeps, query: str | None, opts: RunOptions, *, stream: bool
) -> AsyncIterator[Event]:
    """Yield stage events (and text chunks when ``stream``), then the ``PreLLMResult``.

    The books (trace, memory) are written before the result is yielded; the budget
    is settled when the generator ends, also when a stage failed.
    """
    state = admit(deps, query, opts)  # nothing spent yet when this refuses
    try:
        route(deps, state)
        await gather(deps, state)
        for notice in state.notices:
            yield StageEvent(stage="setup", status="notice", detail={"message": notice})
        async for event in analyse(deps, state):
            yield event
        question = clarify(deps, state)
        if question is None:
            async for event in compose(deps, state):
                yield event
            async for item in answer(deps, state, stream=stream):
                yield item
        done = result(deps, state, question)
        record(deps, state, done)
        yield done
    finally:
        settle(deps, state)
