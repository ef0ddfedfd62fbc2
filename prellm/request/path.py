"""The one request path, in order. Read this function to know what preLLM does.

    admit → route → gather → [resume] → [condense] → analyse → clarify → compose → answer → finish

Each stage is a module of this package with one entry function taking the
engine's frozen ``EngineDeps`` and the request's ``RequestState``. ``resume``
runs only for agent continuations (the last message is a tool result): the
user turn composed earlier is reused and the small model does not run.
``condense`` runs when material is attached (or pasted after the question and too
big for the small model): it becomes ranked evidence before any model reads it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from ..models import PreLLMResult, StageEvent, ToolCallDelta
from .admit import admit
from .analyse import analyse
from .answer import answer
from .clarify import clarify
from .compose import compose
from .condense import condense
from .deps import EngineDeps
from .finish import record, result, settle
from .gather import gather
from .options import RunOptions
from .resume import resume
from .route import route

Event = str | StageEvent | ToolCallDelta | PreLLMResult


async def run_request(
    deps: EngineDeps, query: str | None, opts: RunOptions, *, stream: bool
) -> AsyncGenerator[Event, None]:
    """Yield stage events (and text chunks when ``stream``), then the ``PreLLMResult``.

    The books (trace, memory) are written before the result is yielded; the budget
    is settled when the generator ends, also when a stage failed.
    """
    state = admit(deps, query, opts)  # nothing spent yet when this refuses
    try:
        route(deps, state)
        await gather(deps, state)
        if state.conv.continuation:
            resume(deps, state)  # an agent's tool loop: no second analysis of the same turn
        if state.resumed is None:
            async with aclosing(condense(deps, state)) as steps:
                async for step in steps:
                    yield step
        for notice in state.notices:
            yield StageEvent(stage="setup", status="notice", detail={"message": notice})
        # Each stage's generator is closed before the books settle, also when the caller
        # stops early: a stream cut mid-answer is accounted for by ``answer`` first.
        async with aclosing(analyse(deps, state)) as events:
            async for event in events:
                yield event
        question = clarify(deps, state)
        if question is None:
            async with aclosing(compose(deps, state)) as events:
                async for event in events:
                    yield event
            async with aclosing(answer(deps, state, stream=stream)) as items:
                async for item in items:
                    yield item
        done = result(deps, state, question)
        record(deps, state, done)
        yield done
    finally:
        settle(deps, state)
