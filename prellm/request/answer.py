"""Answer: the large model's call, streamed or not, or constrained to a response schema.

Placeholders are restored in what the user sees (also across streamed chunks).
A structured answer goes through the one JSON call and its one repair; one that
is still invalid is a ``ValidationError``. An empty answer is never a success.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .. import providers
from ..errors import ValidationError
from ..models import StageEvent
from ..structured import ask_json
from .deps import EngineDeps
from .state import LargeAnswer, RequestState


async def answer(
    deps: EngineDeps, state: RequestState, *, stream: bool
) -> AsyncIterator[str | StageEvent]:
    large = deps.large
    yield StageEvent(
        stage="large", status="start", model=large, detail={"strategy": state.strategy.name}
    )
    if state.schema is not None:
        state.answer = await _structured(deps, state)
    elif stream:
        async for chunk in _streamed(deps, state):
            yield chunk
    else:
        c = await providers.acomplete(large, state.large_messages, **state.params)
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


async def _streamed(deps: EngineDeps, state: RequestState) -> AsyncIterator[str]:
    restorer = state.guard.restorer() if state.guard else None
    completion = None
    async for item in providers.astream(deps.large, state.large_messages, **state.params):
        if isinstance(item, str):
            text = restorer.feed(item) if restorer else item
            if text:
                yield text
        else:
            completion = item
    if restorer and (tail := restorer.flush()):
        yield tail
    assert completion is not None
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
