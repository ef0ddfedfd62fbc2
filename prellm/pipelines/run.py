"""A pipeline's run: its variables, and what its steps have produced so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config.schema import DomainRule
from ..models import Decomposition, StageRecord, StepRecord
from ..safety import SensitiveDataFilter


@dataclass
class Run:
    variables: dict[str, Any]
    rules: list[DomainRule]
    guard: SensitiveDataFilter | None
    stages: list[StageRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    decomposition: Decomposition | None = None
    strategy: str = "passthrough"
    fallback_reason: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
