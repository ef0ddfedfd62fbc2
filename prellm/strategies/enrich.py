from __future__ import annotations

from typing import Any

from .base import ComposeContext, Composition, LangCode, Strategy, Word, short_list


class Enrich(Strategy):
    """The small model adds context, assumptions to state and missing details to the request."""

    name = "enrich"
    prompt = "analyze.enrich"

    def fields(self, intent: Any) -> dict[str, Any]:
        return {
            "intent": (intent, ...),
            "domain": (Word, ...),
            "language": (LangCode, ...),
            "context": (short_list(5), ...),
            "assumptions": (short_list(4), ...),
            "missing": (short_list(4), ...),
        }

    def compose(self, ctx: ComposeContext) -> Composition:
        return Composition(user=ctx.render("compose.enrich"))
