"""Answer: the large model's call, streamed or not, or constrained to a response schema.

Placeholders are restored in what the user sees (also across streamed chunks).
A structured answer goes through the one JSON call and its one repair; one that
is still invalid is a ``ValidationError``. An empty answer is never a success.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from .. import providers
from ..errors import ValidationError
from ..models import StageEvent, ToolCallDelta
from ..structured import ask_json
from .deps import EngineDeps
from .state import LargeAnswer, RequestState


async def answer(
    deps: EngineDeps, state: RequestState, *, stream: bool
) -> AsyncGenerator[str | StageEvent | ToolCallDelta, None]:
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
        state.answer = _final(state, c)
    assert state.answer is not None
    completion = state.answer.completion
    state.step("large model", stage=state.stages[-1].stage, answer=completion.content)
    if completion.usage_estimated:
        state.notices.append(f"{large} reported no token usage; counts for 'large' are estimates")
    # A reply of tool calls (or of a refusal) is an answer; an empty reply never is.
    if not (completion.content.strip() or completion.tool_calls or _refused(completion)):
        raise ValidationError(large, f"empty answer (finish_reason={completion.finish_reason})")
    if completion.finish_reason == "length":
        state.notices.append("the answer was cut at max_tokens")
    yield StageEvent(stage="large", status="done", model=large, detail={"ms": round(completion.ms)})


def _restore(state: RequestState, text: str) -> str:
    return state.guard.restore(text) if state.guard else text


def _refused(c: providers.Completion) -> bool:
    return any(ch["message"].get("refusal") for ch in c.choices)


def _final(state: RequestState, c: providers.Completion) -> LargeAnswer:
    """The answer as the caller sees it: placeholders restored in text and tool arguments."""
    guard = state.guard
    if guard is None:
        return LargeAnswer(c, c.content, tool_calls=c.tool_calls, choices=c.choices)

    def restore_call(call: dict[str, Any]) -> dict[str, Any]:
        fn = call["function"]
        return {**call, "function": {**fn, "arguments": guard.restore_json(fn["arguments"])}}

    choices = []
    for ch in c.choices:
        msg = dict(ch["message"])
        if isinstance(msg.get("content"), str):
            msg["content"] = guard.restore(msg["content"])
        if msg.get("tool_calls"):
            msg["tool_calls"] = [restore_call(t) for t in msg["tool_calls"]]
        choices.append({**ch, "message": msg})
    calls = [restore_call(t) for t in c.tool_calls]
    return LargeAnswer(c, guard.restore(c.content), tool_calls=calls, choices=choices)


async def _streamed(
    deps: EngineDeps, state: RequestState
) -> AsyncGenerator[str | ToolCallDelta, None]:
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
            elif isinstance(item, ToolCallDelta):
                yield item  # arguments arrive restored in the final result
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
    state.answer = _final(state, completion)


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
