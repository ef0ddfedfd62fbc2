from __future__ import annotations

from typing import Any

from .base import ComposeContext, Composition, Confidence, LangCode, Strategy, Word, short_list


class Classify(Strategy):
    """Intent, domain, confidence, missing facts → an expert system prompt.

    The user's words go to the large model unchanged; the system prompt focuses it.
    """

    name = "classify"
    prompt = "analyze.classify"

    def fields(self, intent: Any) -> dict[str, Any]:
        return {
            "intent": (intent, ...),
            "confidence": (Confidence, ...),
            "domain": (Word, ...),
            "language": (LangCode, ...),
            "missing": (short_list(4), ...),
        }

    def compose(self, ctx: ComposeContext) -> Composition:
        return Composition(system=ctx.render("compose.classify"))
