from __future__ import annotations

from typing import Any

from .base import (
    ComposeContext,
    Composition,
    LangCode,
    Param,
    ShortText,
    Strategy,
    Word,
    short_list,
)


class StructureStrategy(Strategy):
    """Action, target, parameters and missing facts → a structured prompt.

    The last user turn becomes: goal, the request verbatim, given facts,
    constraints, what is not stated, and the expected output.
    """

    name = "structure"
    prompt = "analyze.structure"

    def fields(self, intent: Any) -> dict[str, Any]:
        return {
            "intent": (intent, ...),
            "language": (LangCode, ...),
            "action": (Word, ...),
            "target": (ShortText, ...),
            "parameters": (list[Param], ...),
            "constraints": (short_list(4), ...),
            "expected_output": (ShortText, ...),
            "missing": (short_list(4), ...),
        }

    def compose(self, ctx: ComposeContext) -> Composition:
        return Composition(user=ctx.render("compose.structure"))
