"""Pydantic models for everything that crosses preLLM's public boundary."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

StageName = str  # "small", "small_repair", "large", "sub_1", ..., "merge"


class Structure(BaseModel):
    """What the user wants done, as the small model understood it."""

    action: str | None = None
    target: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)


class Decomposition(BaseModel):
    """The small model's analysis of the query and the prompt built from it."""

    intent: str | None = None
    confidence: float | None = None
    domain: str | None = None
    language: str | None = None
    missing: list[str] = Field(default_factory=list)
    structure: Structure = Field(default_factory=Structure)
    constraints: list[str] = Field(default_factory=list)
    expected_output: str | None = None
    sub_queries: list[str] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    strategy_reason: str | None = None
    matched_rule: str | None = None
    composed_prompt: str | None = None
    system_prompt: str | None = None
    fallback_reason: str | None = None


class StageRecord(BaseModel):
    """One model call: who was called, what it cost, how long it took."""

    stage: StageName
    model: str
    role: Literal["small", "large"]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = Field(
        default=0.0, description="litellm's price; 0 for local models, null when unknown"
    )
    ms: float = 0.0
    finish_reason: str | None = None
    ok: bool = True
    error: str | None = None


class CondenseStep(BaseModel):
    """One step of condensing attached material: what went in and what came out."""

    step: str  # "redact", "mine", "map_1", ..., "reduce", "evidence"
    bytes_in: int = 0
    tokens_out: int = 0
    ms: float = 0.0


class Condensed(BaseModel):
    """What preLLM did with attached material (files, or a long paste after the question)."""

    materials: dict[str, str] = Field(
        default_factory=dict, description="Each material's name and detected kind"
    )
    input_bytes: int = 0
    input_lines: int = 0
    templates: int = Field(0, description="Distinct log templates mined")
    findings: int = Field(0, description="Findings ranked from the material")
    findings_sent: int = Field(0, description="Findings in the evidence the large model got")
    output_tokens: int = Field(0, description="Tokens of the evidence section sent")
    window: list[str | None] = Field(
        default_factory=list, description="First and last timestamp seen in logs"
    )
    small_calls: int = Field(0, description="Small-model calls spent on the material (map)")
    steps: list[CondenseStep] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class StepRecord(BaseModel):
    """One pipeline step: what went in, what came out, what it cost."""

    name: str
    type: str
    pipeline: str
    skipped: bool = False
    input: dict[str, Any] = Field(default_factory=dict)
    output: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ms: float = 0.0
    error: str | None = None


class ToolCallFunction(BaseModel):
    name: str
    arguments: str = Field(description="JSON text, as the model wrote it (placeholders restored)")


class ToolCall(BaseModel):
    """A call the large model asks the caller to make (OpenAI's shape)."""

    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ToolCallDelta(BaseModel):
    """A piece of a tool call while streaming; the result carries the assembled calls."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class SubAnswer(BaseModel):
    query: str
    answer: str


class PreLLMResult(BaseModel):
    """What ``preprocess_and_execute`` returns: the answer and how it was made."""

    content: str
    model_used: str
    small_model_used: str | None
    strategy: str
    requested_strategy: str
    decomposition: Decomposition
    sub_answers: list[SubAnswer] = Field(default_factory=list)
    pipeline: str | None = None
    pipeline_steps: list[StepRecord] = Field(default_factory=list)
    stages: list[StageRecord] = Field(default_factory=list)
    notices: list[str] = Field(default_factory=list)
    redactions: dict[str, int] = Field(
        default_factory=dict,
        description="Values redacted before sending, by rule (never the values)",
    )
    finish_reason: str | None = None
    tool_calls: list[ToolCall] = Field(
        default_factory=list,
        description="Tool calls the large model asks for (then finish_reason is tool_calls)",
    )
    choices: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every choice as the upstream gave it (OpenAI shape: message, finish_reason, logprobs), placeholders restored",
    )
    turn: Literal["new", "continuation"] = Field(
        "new",
        description="continuation: the last message was a tool result or an assistant turn; the small model did not run",
    )
    parsed: dict[str, Any] | None = Field(
        default=None, description="The validated answer, with response_schema"
    )
    needs_clarification: bool = Field(
        default=False, description="A rule asked for missing facts instead of answering"
    )
    trace_path: str | None = Field(
        default=None, description="The Markdown trace, when tracing was on"
    )
    cache: Literal["hit", "miss", "off"] = Field(
        default="off",
        description="The decomposition cache: hit (no small-model call), miss (analysed and "
        "stored), off (not used: turned off, nothing to analyse, or redacted values)",
    )
    condensed: Condensed | None = Field(
        default=None,
        description="Attached material condensed to an evidence section (None: there was none)",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def usage(self) -> dict[str, TokenUsage]:
        """Token counts per stage as reported by the providers, plus ``total``."""
        out: dict[str, TokenUsage] = {}
        total = TokenUsage()
        for s in self.stages:
            out[s.stage] = TokenUsage(
                prompt_tokens=s.prompt_tokens, completion_tokens=s.completion_tokens
            )
            total.prompt_tokens += s.prompt_tokens
            total.completion_tokens += s.completion_tokens
        out["total"] = total
        return out

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> dict[str, float | None]:
        """Cost per stage and ``total`` (unknown prices count as 0 in the total)."""
        out: dict[str, float | None] = {s.stage: s.cost_usd for s in self.stages}
        out["total"] = sum(s.cost_usd or 0.0 for s in self.stages)
        return out

    @computed_field  # type: ignore[prop-decorator]
    @property
    def timings_ms(self) -> dict[str, float]:
        out = {s.stage: round(s.ms, 1) for s in self.stages}
        out["total"] = round(self.total_ms, 1)
        return out

    total_ms: float = 0.0


class StageEvent(BaseModel):
    """Progress of a request, yielded between text chunks when streaming."""

    stage: StageName
    status: Literal["start", "progress", "done", "fallback", "notice"]
    model: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
