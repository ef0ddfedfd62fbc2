"""Gather: the context the request carries into analysis and composition.

The caller's ``user_context`` (with remembered preferences), the domain's and the
matched rule's background, and, when asked, runtime facts and a query-ranked
summary of the project (read in a thread: it touches the disk).
"""

from __future__ import annotations

import asyncio

from ..context.gather import context_text, gather_context
from .deps import EngineDeps
from .state import RequestState


async def gather(deps: EngineDeps, state: RequestState) -> None:
    opts = state.opts
    rule_context = state.rule.rule.context if state.rule else None
    parts = [context_text(state.user_context), deps.config.domain_context, rule_context]
    # Within a pipeline, a compress_context step decides about the project itself.
    project = None if state.pipeline else opts.codebase_path
    if project or opts.collect_runtime:
        parts.append(
            await asyncio.to_thread(
                gather_context,
                state.conv.query,
                project,
                opts.codebase_budget,
                opts.collect_runtime,
                state.notices,
            )
        )
    state.context_text = "\n".join(filter(None, parts)) or None
    state.step(
        "query",
        text=state.conv.query,
        history=state.conv.history_text(),
        user_context=state.context_text,
    )
