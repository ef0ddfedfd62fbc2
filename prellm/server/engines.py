"""Which engine serves a request: the ``model`` field picks the pair, a bounded pool keeps engines.

Engines resolve configuration, models and prompts once, so the server keeps one
per (small, large, strategy, domain) instead of making one per request, and makes
it again when prellm.yaml changed. Clients choose these strings, so the pool is a
bounded LRU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..config.loader import load_config
from ..engine import PreLLM
from .errors import HTTPError
from .settings import ModelPair, ServerSettings

MAX_ENGINES = 64


def resolve_pair(model: str, settings: ServerSettings) -> ModelPair:
    """The (small, large) pair a request's ``model`` field selects.

    ``prellm:default``; ``prellm:<small>-><large>`` (or ``→``); ``prellm:<large>``
    with the default small; a configured alias; any other string is the large
    model, with the default small model.
    """
    default = ModelPair(small=settings.small, large=settings.large)
    if model in settings.aliases:
        alias = settings.aliases[model]
        return ModelPair(small=alias.small or default.small, large=alias.large or default.large)
    if model in ("prellm", "prellm:default"):
        return default
    spec = model.removeprefix("prellm:")
    for arrow in ("->", "→"):
        if arrow in spec:
            small, _, large = spec.partition(arrow)
            if not small.strip() or not large.strip():
                raise HTTPError(
                    400,
                    f"model {model!r}: expected prellm:<small>-><large>",
                    code="model_not_found",
                )
            return ModelPair(small=small.strip(), large=large.strip())
    return ModelPair(small=default.small, large=spec.strip() or default.large)


class EnginePool:
    """Engines by (small, large, strategy, domain), the least recently used dropped first."""

    def __init__(self, settings: ServerSettings, memory: Any, size: int = MAX_ENGINES) -> None:
        self.settings, self.memory, self.size = settings, memory, size
        self._engines: OrderedDict[tuple[str | None, ...], PreLLM] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, pair: ModelPair, strategy: str | None = None, domain: str | None = None
    ) -> PreLLM:
        key = (pair.small, pair.large, strategy or self.settings.strategy, domain)
        # The same Config object while prellm.yaml and its files are unchanged (stat calls).
        config = load_config(self.settings.config, domain=domain)
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None and engine.config is config:
                self._engines.move_to_end(key)
                return engine
        engine = PreLLM(
            pair.small,
            pair.large,
            key[2],
            config=config,
            domain=domain,
            memory=self.memory,
            trace=self.settings.trace,
            trace_dir=self.settings.trace_dir,
        )
        with self._lock:
            self._engines[key] = engine
            while len(self._engines) > self.size:
                self._engines.popitem(last=False)
        return engine

    def default(self) -> PreLLM:
        """The engine a ``prellm:default`` request gets."""
        return self.get(ModelPair(small=self.settings.small, large=self.settings.large))
