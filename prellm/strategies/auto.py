from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .base import Confidence, LangCode, ShortText, Strategy, Word, short_list

CHOICES = ("passthrough", "classify", "structure", "split", "enrich")


class Auto(Strategy):
    """The small model picks the strategy in the same call that analyses the query.

    Its answer carries the fields every strategy needs; the engine then composes
    with the chosen strategy, without a second small call.
    """

    name = "auto"
    prompt = "analyze.auto"

    def fields(self, intent: Any) -> dict[str, Any]:
        return {
            "strategy": (Literal[CHOICES], ...),
            "reason": (ShortText, ...),
            "intent": (intent, ...),
            "confidence": (Confidence, ...),
            "domain": (Word, ...),
            "language": (LangCode, ...),
            "missing": (short_list(4), ...),
            "action": (Word, ...),
            "target": (ShortText, ...),
            "sub_queries": (Annotated[list[ShortText], Field(max_length=5)], ...),
            "assumptions": (short_list(3), ...),
        }
