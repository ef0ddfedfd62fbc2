"""What a strategy is: the small-model analysis it asks for and the prompt it composes.

A strategy never calls a model itself. It declares the JSON the small model
must return (a Pydantic model, hence a JSON Schema), and turns the resulting
``Decomposition`` into what the large model receives. The engine does the
calling, for every strategy alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, create_model

from ..config.prompts import PromptRegistry
from ..models import Decomposition, Structure, SubAnswer

ShortText = Annotated[str, Field(max_length=160)]
Word = Annotated[str, Field(max_length=40)]
LangCode = Annotated[str, Field(max_length=8)]
Confidence = Annotated[float, Field(ge=0, le=1)]


def short_list(max_items: int) -> Any:
    return Annotated[list[ShortText], Field(max_length=max_items)]


class Param(BaseModel):
    name: Word
    value: ShortText


@dataclass
class ComposeContext:
    """Everything a strategy may use to build the large model's prompt."""

    query: str
    decomposition: Decomposition
    prompts: PromptRegistry
    language: str
    user_context: str | None = None
    intent_descriptions: dict[str, str] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)  # tools offered to the large model

    def render(self, name: str, **extra: Any) -> str:
        d = self.decomposition
        return self.prompts.render(
            name,
            query=self.query,
            d=d,
            language=self.language,
            user_context=self.user_context,
            intent_description=self.intent_descriptions.get(d.intent or "", ""),
            tools=self.tools,
            **extra,
        )


@dataclass
class Composition:
    """What replaces the user's last turn (``user``) and the guidance added as ``system``.

    ``None`` keeps the original: a strategy that only adds a system prompt leaves
    the user's words exactly as they were typed.
    """

    system: str | None = None
    user: str | None = None


class Strategy:
    name: ClassVar[str]
    prompt: ClassVar[str | None] = None  # the small model's prompt; None: no small call

    def fields(self, intent: Any) -> dict[str, Any]:
        """Pydantic field definitions of the small model's JSON answer."""
        return {}

    def analysis_model(self, intents: tuple[str, ...]) -> type[BaseModel]:
        intent = Literal[intents]  # type: ignore[valid-type]
        return create_model(f"{self.name.title()}Analysis", **self.fields(intent))

    def compose(self, ctx: ComposeContext) -> Composition:
        return Composition()

    def parts(self, ctx: ComposeContext) -> list[str]:
        """Sub-queries the large model answers before the final call (split only)."""
        return []

    def part_prompt(self, ctx: ComposeContext, sub_query: str) -> str:
        raise NotImplementedError

    def merge(self, ctx: ComposeContext, sub_answers: list[SubAnswer]) -> Composition:
        raise NotImplementedError


def to_decomposition(data: dict[str, Any]) -> Decomposition:
    """Map a validated analysis (any strategy's) onto the common Decomposition."""
    params = data.get("parameters") or []
    structure = Structure(
        action=data.get("action") or None,
        target=data.get("target") or None,
        parameters={p["name"]: p["value"] for p in params if p.get("name")},
    )
    known = set(Decomposition.model_fields) - {"structure"}
    d = Decomposition(**{k: v for k, v in data.items() if k in known})
    d.structure = structure
    d.strategy_reason = data.get("reason") or None
    return d
