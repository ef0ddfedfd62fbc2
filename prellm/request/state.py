"""What one request carries from stage to stage (pydantic-ai's ``GraphAgentState``).

Each stage fills its own fields; the orchestrator (``path.py``) passes the state
along. Model calls are added to ``stages`` through ``account``, the only place
the list grows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..messages import Conversation
from ..models import Condensed, Decomposition, StageRecord, SubAnswer
from ..observability.trace import Trace
from ..pipelines.run import Run
from ..providers import Completion
from ..response_schema import SchemaRequest
from ..rules import RuleMatch
from ..safety import SensitiveDataFilter
from ..strategies import Composition, Strategy, get_strategy
from .options import RunOptions


@dataclass
class LargeAnswer:
    """The large model's final call: what it returned, and what the user sees."""

    completion: Completion
    content: str  # placeholders restored
    parsed: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # arguments restored
    choices: list[dict[str, Any]] = field(default_factory=list)  # every choice, restored


@dataclass
class RequestState:
    opts: RunOptions
    conv: Conversation
    # admit
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    t0: float = field(default_factory=time.perf_counter)
    guard: SensitiveDataFilter | None = None
    trace: Trace | None = None
    user: str = "default"  # whose memory and spend
    user_context: str | dict[str, Any] | None = None  # the caller's, with remembered preferences
    memory_text: str | None = None
    reservation: Any = None
    deadline: float | None = None  # time.monotonic() by which every model call must be done
    notices: list[str] = field(default_factory=list)
    stages: list[StageRecord] = field(default_factory=list)
    # route
    rule: RuleMatch | None = None
    requested: str = "passthrough"
    strategy: Strategy = field(default_factory=lambda: get_strategy("passthrough"))
    pipeline: str | None = None
    schema: SchemaRequest | None = None
    # gather
    context_text: str | None = None
    # condense (attached material): what the small model reads of it, what the large one gets
    condensed: Condensed | None = None
    material_context: str | None = None
    material_notes: str | None = None  # the small model's merged reading (map/reduce)
    evidence: str | None = None
    # resume (agent continuations): the composition reused for the earlier user turn
    resumed: Composition | None = None
    # analyse
    decomposition: Decomposition = field(default_factory=Decomposition)
    cache: Literal["hit", "miss", "off"] = "off"  # the decomposition cache (request/cache.py)
    run: Run | None = None
    # compose
    sub_answers: list[SubAnswer] = field(default_factory=list)
    large_messages: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # the large model's call parameters
    # answer
    answer: LargeAnswer | None = None

    def account(self, records: Iterable[StageRecord]) -> None:
        """Model calls that ran, successful or not: the budget is settled from these."""
        self.stages.extend(records)

    def hide(self, text: str) -> str:
        """``text`` as it may leave the machine (redacted when the filter is on)."""
        return self.guard.redact(text) if self.guard else text

    def analysis_context(self) -> str | None:
        """What the small model is told besides the query: context, then attached material."""
        parts = [self.context_text]
        if self.material_context:
            parts.append(
                "Attached material, condensed (findings with counts):\n" + self.material_context
            )
        return "\n".join(p for p in parts if p) or None

    def step(self, name: str, **data: Any) -> None:
        """A step of the trace, when the request is traced."""
        if self.trace:
            self.trace.step(name, **data)
