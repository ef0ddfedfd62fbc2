"""The named strategies. Each is a small unit over the one engine (see ``base``)."""

from __future__ import annotations

from ..errors import ConfigError
from .auto import Auto
from .base import ComposeContext, Composition, Strategy
from .classify import Classify
from .enrich import Enrich
from .passthrough import Passthrough
from .split import Split
from .structure import StructureStrategy

STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (Auto(), Classify(), StructureStrategy(), Split(), Enrich(), Passthrough())
}
NAMES = tuple(STRATEGIES)


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; choose one of: {', '.join(NAMES)}") from None


__all__ = ["STRATEGIES", "NAMES", "get_strategy", "Strategy", "ComposeContext", "Composition"]
