"""The models of every YAML file a user writes. JSON Schemas for editors come from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

StrategyName = Literal["auto", "classify", "structure", "split", "enrich", "passthrough"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ModelSpec(Strict):
    """A model with its call settings."""

    model: str = Field(
        description="A litellm model string, e.g. gpt-4o-mini, ollama/qwen2.5:3b, local/qwen2.5-coder-1.5b"
    )
    fallbacks: list[str] = Field(
        default_factory=list, description="Models tried in order when this one fails"
    )
    timeout: float | None = Field(None, gt=0, description="Seconds per call")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)

    def call_kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "timeout": self.timeout,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.fallbacks:
            out["fallbacks"] = self.fallbacks
        return {k: v for k, v in out.items() if v is not None}


class BudgetSpec(Strict):
    monthly: float | None = Field(None, ge=0, description="USD per calendar month (UTC)")
    daily: float | None = Field(None, ge=0, description="USD per day (UTC)")
    per_model_monthly: dict[str, float] = Field(default_factory=dict)
    reserve_output_tokens: int = Field(
        4096,
        gt=0,
        description="Answer tokens reserved when a request sets no max_tokens "
        "(the model's output limit, capped by this)",
    )


class CondenseSpec(Strict):
    """Big inputs: when attached material is condensed, and how much of it is sent."""

    share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A request whose text exceeds this share of the small model's context "
        "has its pasted material condensed",
    )
    small_tokens: int = Field(
        250, gt=0, description="Most tokens of findings the small model reads in one call"
    )
    map_tokens: int = Field(
        1500,
        gt=0,
        description="Findings beyond this many tokens are read by the small model in chunks "
        "(map), then merged by program (reduce)",
    )
    evidence_tokens: int = Field(
        3000, gt=0, description="Most tokens of the evidence section the large model receives"
    )
    tail_lines: int = Field(
        0, ge=0, description="Raw last lines of each material also sent (0: none)"
    )
    max_map_calls: int = Field(
        8, ge=1, le=64, description="Most small-model calls over chunks of findings (map)"
    )


class ConfigFile(Strict):
    """prellm.yaml: models, defaults, and the paths of the other files (relative to this file)."""

    small: str | ModelSpec | None = Field(None, description="The small (preprocessing) model")
    large: str | ModelSpec | None = Field(None, description="The large (answering) model")
    strategy: StrategyName = Field("auto", description="Default strategy")
    domain: str | None = Field(
        None, description="Built-in domain defaults: devops, coding, business, embedded"
    )
    prompts: str | None = Field(None, description="prompts.yaml: prompt overrides and additions")
    rules: str | None = Field(None, description="rules.yaml: domain rules")
    schemas: str | None = Field(None, description="schemas.yaml: response schemas")
    intents: str | None = Field(None, description="intents.yaml: your intent taxonomy")
    pipelines: str | None = Field(
        None, description="pipelines.yaml: your pipelines (added to the built-in ones)"
    )
    pipeline: str | None = Field(None, description="Default pipeline (instead of a strategy)")
    sensitive_rules: str | None = Field(None, description="Extra sensitive-data rules")
    sanitize: bool = Field(True, description="Redact secrets and personal data before they leave")
    trace: bool = Field(False, description="Write a trace for every request")
    budget: BudgetSpec | None = None
    condense: CondenseSpec = Field(default_factory=CondenseSpec)


class PromptEntry(Strict):
    text: str
    max_tokens: int | None = Field(None, gt=0)
    temperature: float | None = Field(None, ge=0, le=2)


class PromptsFile(Strict):
    prompts: dict[str, PromptEntry]


class Fact(Strict):
    """A fact a rule needs: present when any keyword or the pattern occurs in the request."""

    name: str
    keywords: list[str] = Field(default_factory=list)
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        import re

        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return v


class DomainRule(Strict):
    name: str
    keywords: list[str] = Field(
        min_length=1,
        description="Matched case- and accent-insensitively, as whole words or prefixes",
    )
    intents: list[str] = Field(
        default_factory=list, description="Only when the small model finds one of these intents"
    )
    require: list[Fact] = Field(default_factory=list, description="Facts the request must state")
    strategy: StrategyName | None = None
    policy: Literal["ask", "assume"] = Field(
        "assume", description="ask: return a clarification; assume: state assumptions"
    )
    context: str | None = Field(
        None, description="Background added to the prompt when the rule matches"
    )


class RulesFile(Strict):
    rules: list[DomainRule]


class FieldSpec(Strict):
    type: Literal["string", "integer", "number", "boolean", "array", "object"]
    description: str | None = None
    enum: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=0)
    items: FieldSpec | None = None
    fields: dict[str, FieldSpec] | None = None
    required: bool = True


class ResponseSchemaSpec(Strict):
    description: str | None = None
    fields: dict[str, FieldSpec] = Field(min_length=1)


class SchemasFile(Strict):
    schemas: dict[str, ResponseSchemaSpec]


class IntentSpec(Strict):
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    examples: list[str] = Field(default_factory=list, max_length=10)

    def as_prompt_item(self) -> dict[str, str]:
        """How the small model's prompt lists it: the name, and the description or a readable name."""
        return {"name": self.name, "description": self.description or self.name.replace("_", " ")}


class IntentsFile(Strict):
    intents: list[IntentSpec] = Field(min_length=2)
    shortlist: int | None = Field(
        None,
        ge=0,
        description="With more intents than this, each request offers the small model only "
        "this many, picked by lexical retrieval over names, descriptions and examples. "
        "Unset: 8 when there are more than 20 intents; 0: every intent, always",
    )

    @field_validator("shortlist")
    @classmethod
    def _shortlist_of_two_or_more(cls, v: int | None) -> int | None:
        if v == 1:
            raise ValueError("a shortlist offers at least 2 intents (0 turns it off)")
        return v


class Step(Strict):
    """One pipeline step. ``type`` decides which other keys it needs."""

    name: str
    type: Literal["llm", "function", "compose", "pipeline"]
    prompt: str | None = Field(None, description="llm: the prompt's name in the registry")
    schema_: str | None = Field(
        None,
        alias="schema",
        description="llm: a strategy name (its analysis schema) or a schemas.yaml name",
    )
    input: dict[str, str] = Field(
        default_factory=dict,
        description="llm: template variable -> expression over earlier outputs",
    )
    function: str | None = Field(
        None,
        description="function: a registered function (match_rules, redact, compress_context, merge, runtime)",
    )
    args: dict[str, Any] = Field(
        default_factory=dict, description="function: its arguments (strings are expressions)"
    )
    strategy: str | None = Field(
        None, description="compose: a strategy name, or an expression giving one"
    )
    pipeline: str | None = Field(None, description="pipeline: another pipeline to run here")
    output: str | None = Field(None, description="The variable this step's result is stored in")
    when: str | None = Field(None, description="Run only if this condition holds (safe expression)")
    decomposition: bool = Field(
        False, description="This step's output becomes the request's decomposition"
    )

    @model_validator(mode="after")
    def _needs(self) -> Step:
        need = {
            "llm": ("prompt", "schema_"),
            "function": ("function",),
            "compose": ("strategy",),
            "pipeline": ("pipeline",),
        }
        for key in need[self.type]:
            if getattr(self, key) is None:
                raise ValueError(f"a {self.type} step needs {key.rstrip('_')!r}")
        return self


class PipelineSpec(Strict):
    description: str = ""
    steps: list[Step] = Field(min_length=1)


class PipelinesFile(Strict):
    pipelines: dict[str, PipelineSpec]


class DomainFile(Strict):
    """A shipped domain default: background, rules and prompt overrides."""

    name: str
    description: str
    context: str
    rules: list[DomainRule] = Field(default_factory=list)
    prompts: dict[str, PromptEntry] = Field(default_factory=dict)


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "config": ConfigFile,
    "prompts": PromptsFile,
    "rules": RulesFile,
    "schemas": SchemasFile,
    "intents": IntentsFile,
    "domain": DomainFile,
    "pipelines": PipelinesFile,
}


def json_schema(name: str) -> dict[str, Any]:
    model = SCHEMA_MODELS[name]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"preLLM {name} file"
    return schema


if __name__ == "__main__":  # regenerate the shipped files: python -m prellm.config.schema
    import json
    from pathlib import Path

    out = Path(__file__).resolve().parent.parent / "data" / "schemas"
    out.mkdir(exist_ok=True)
    for n in SCHEMA_MODELS:
        (out / f"{n}.schema.json").write_text(
            json.dumps(json_schema(n), indent=2, ensure_ascii=False) + "\n"
        )
