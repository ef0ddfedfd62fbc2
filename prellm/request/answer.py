"""Answer: the large model's call, streamed or not, or constrained to a response schema.

Placeholders are restored in what the user sees (also across streamed chunks).
A structured answer goes through the one JSON call and its one repair; one that
is still invalid is a ``ValidationError``. An empty answer is never a success.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing

from .. import providers
from ..errors import ValidationError
from ..models import StageEvent
from ..structured import ask_json
from .deps import EngineDeps
from .state import LargeAnswer, RequestState


async def answer(
    deps: EngineDeps, state: RequestState, *, stream: bool
) -> AsyncGenerator[str | StageEvent, None]:
    large = deps.large
    yield StageEvent(
        stage="large", status="start", model=large, detail={"strategy": state.strategy.name}
    )
    if state.schema is not None:
        state.answer = await _structured(deps, state)
    elif stream:
        async with aclosing(_streamed(deps, state)) as chunks:
            async for chunk in chunks:
                yield chunk
    else:
        c = await providers.acomplete(
            large, state.large_messages, deadline=state.deadline, **state.params
        )
        state.account([c.record("large", "large")])
        state.answer = LargeAnswer(c, _restore(state, c.content))
    assert state.answer is not None
    completion = state.answer.completion
    state.step("large model", stage=state.stages[-1].stage, answer=completion.content)
    if completion.usage_estimated:
        state.notices.append(f"{large} reported no token usage; counts for 'large' are estimates")
    if not completion.content.strip():
        raise ValidationError(large, f"empty answer (finish_reason={completion.finish_reason})")
    if completion.finish_reason == "length":
        state.notices.append("the answer was cut at max_tokens")
    yield StageEvent(stage="large", status="done", model=large, detail={"ms": round(completion.ms)})


def _restore(state: RequestState, text: str) -> str:
    return state.guard.restore(text) if state.guard else text


async def _streamed(deps: EngineDeps, state: RequestState) -> AsyncGenerator[str, None]:
    restorer = state.guard.restorer() if state.guard else None
    completion, received, t0 = None, [], time.perf_counter()
    stream = providers.astream(
        deps.large, state.large_messages, deadline=state.deadline, **state.params
    )
    try:
        async for item in stream:
            if isinstance(item, str):
                received.append(item)
                text = restorer.feed(item) if restorer else item
                if text:
                    yield text
            else:
                completion = item
    finally:
        if completion is None:
            # Cut short (the caller went away, the upstream failed): billed for what was used.
            await stream.aclose()
            cut = providers.partial(deps.large, state.large_messages, "".join(received), t0)
            state.account([cut.record("large", "large")])
    assert completion is not None
    if restorer and (tail := restorer.flush()):
        yield tail
    state.account([completion.record("large", "large")])
    state.answer = LargeAnswer(completion, _restore(state, completion.content))


async def _structured(deps: EngineDeps, state: RequestState) -> LargeAnswer:
    schema = state.schema
    assert schema is not None
    out = await ask_json(
        deps.large,
        state.large_messages,
        schema.model,
        schema_name=schema.name,
        prompts=deps.prompts,
        params=state.params,
        stage="large",
        role="large",
        reply=lambda text: _restore(state, text),
        deadline=state.deadline,
    )
    state.account(out.stages)
    if out.failure is not None:
        raise out.failure
    if out.data is None or out.completion is None:
        raise ValidationError(
            deps.large,
            f"answer does not match schema {schema.name!r} after one re-ask: {out.error}",
        )
    return LargeAnswer(out.completion, out.text, out.data)
