"""Compose: the strategy turns the analysis into what the large model receives.

Split's sub-queries are answered first (concurrently) and merged; every other
strategy composes directly. The final messages are redacted here, the last
step before they leave, and the result records what was sent, as it was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from .. import providers
from ..language import language_name
from ..messages import build_large_messages
from ..models import StageEvent, SubAnswer
from ..strategies import ComposeContext, Composition, get_strategy
from .deps import EngineDeps
from .outbound import redact_messages, redact_params
from .resume import remember
from .state import RequestState


async def compose(deps: EngineDeps, state: RequestState) -> AsyncGenerator[StageEvent, None]:
    state.params = {**deps.llm_kwargs, **_user(state), **state.opts.llm_kwargs}
    if state.resumed is not None:
        await _finalise(state, state.resumed)  # an agent continuation: as composed before
        return
    if state.strategy.name == "split" and (_tools(state.params) or state.evidence):
        # Sub-answers without the tools (or the evidence) would miss them: one composed turn.
        why = "tools" if _tools(state.params) else "attached material"
        state.notices.append(f"split with {why}: composed as structure, one call")
        state.strategy = get_strategy("structure")
    d, strategy = state.decomposition, state.strategy
    ctx = ComposeContext(
        query=state.conv.query,
        decomposition=d,
        prompts=deps.prompts,
        language=language_name(d.language, state.conv.query),
        user_context=state.context_text,
        intent_descriptions={i["name"]: i["description"] for i in deps.intents},
        tools=_tools(state.params),
    )
    parts = strategy.parts(ctx)
    if parts:
        yield StageEvent(
            stage="parts", status="start", model=deps.large, detail={"count": len(parts)}
        )
        state.sub_answers = await _answer_parts(deps, state, ctx, parts)
        state.step("sub-answers", answers=[s.model_dump() for s in state.sub_answers])
        composition = strategy.merge(ctx, state.sub_answers)
    else:
        composition = strategy.compose(ctx) if strategy.name != "split" else Composition()
    if state.evidence:
        # The question, as composed, then the evidence condensed from the attached material.
        asked = composition.user if composition.user is not None else state.conv.query
        composition.user = f"{asked}\n\n{state.evidence}"
    remember(deps, state, composition)
    await _finalise(state, composition)


def _user(state: RequestState) -> dict[str, Any]:
    return {"user": state.opts.user} if state.opts.user else {}


def _tools(params: dict[str, Any]) -> list[str]:
    """The names of the tools (or legacy functions) the large model is offered."""
    names = [
        t.get("function", {}).get("name", "")
        for t in params.get("tools") or []
        if isinstance(t, dict)
    ]
    names += [f.get("name", "") for f in params.get("functions") or [] if isinstance(f, dict)]
    return [n for n in names if n]


LARGE_TEXT = 64_000  # characters; redacting more runs in a thread, off the event loop


async def _finalise(state: RequestState, composition: Composition) -> None:
    messages = build_large_messages(state.conv, composition)
    user = composition.user if composition.user is not None else state.conv.query
    shown = [composition.system or "", user]
    if state.guard:
        guard = state.guard

        def redact() -> tuple[list[dict[str, Any]], list[str]]:
            return redact_messages(guard, messages), [guard.redact(t) for t in shown]

        # Big inputs are redacted in a thread: the event loop keeps serving other requests.
        size = sum(len(str(m.get("content") or "")) for m in messages)
        messages, shown = await asyncio.to_thread(redact) if size > LARGE_TEXT else redact()
        state.params = redact_params(guard, state.params)
    state.large_messages = messages
    d = state.decomposition
    # The result shows what the large model was sent, redacted as it was sent.
    d.system_prompt = shown[0] if composition.system else None
    d.composed_prompt = shown[1]
    if state.guard and state.guard.report:
        kinds = ", ".join(
            f"{n} {name.replace('_', ' ')}" for name, n in sorted(state.guard.report.items())
        )
        state.notices.append("redacted before sending: " + kinds)
    state.step(
        "strategy",
        chosen=state.strategy.name,
        requested=state.requested,
        reason=d.strategy_reason,
        fallback_reason=d.fallback_reason,
    )
    state.step("large model request", messages=state.large_messages)


async def _answer_parts(
    deps: EngineDeps, state: RequestState, ctx: ComposeContext, parts: list[str]
) -> list[SubAnswer]:
    """Split's sub-queries, answered concurrently; every part that ran is accounted for."""

    def messages(q: str) -> list[dict[str, Any]]:
        turn = state.conv.replace_last(state.strategy.part_prompt(ctx, q))
        return redact_messages(state.guard, turn) if state.guard else turn

    done = await asyncio.gather(
        *[
            providers.acomplete(deps.large, messages(q), deadline=state.deadline, **state.params)
            for q in parts
        ],
        return_exceptions=True,  # parts that succeeded are still accounted for
    )
    sub_answers = []
    for i, (q, c) in enumerate(zip(parts, done, strict=True), 1):
        if isinstance(c, BaseException):
            continue
        state.account([c.record(f"part_{i}", "large")])
        # The merge call gets the answers as the model wrote them (placeholders kept).
        sub_answers.append(SubAnswer(query=q, answer=c.content))
    if failed := next((c for c in done if isinstance(c, BaseException)), None):
        raise failed
    return sub_answers
