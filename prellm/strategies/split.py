from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ..models import SubAnswer
from .base import ComposeContext, Composition, LangCode, ShortText, Strategy


class Split(Strategy):
    """Sub-queries, answered concurrently by the large model, then merged in one call."""

    name = "split"
    prompt = "analyze.split"

    def fields(self, intent: Any) -> dict[str, Any]:
        return {
            "intent": (intent, ...),
            "language": (LangCode, ...),
            "sub_queries": (Annotated[list[ShortText], Field(min_length=1, max_length=5)], ...),
        }

    def parts(self, ctx: ComposeContext) -> list[str]:
        subs = [q.strip() for q in ctx.decomposition.sub_queries if q.strip()]
        # One sub-query is the request itself: answering it twice would only cost more.
        return subs if len(subs) >= 2 else []

    def part_prompt(self, ctx: ComposeContext, sub_query: str) -> str:
        return ctx.render("compose.split.part", sub_query=sub_query)

    def merge(self, ctx: ComposeContext, sub_answers: list[SubAnswer]) -> Composition:
        return Composition(user=ctx.render("compose.split.merge", sub_answers=sub_answers))
