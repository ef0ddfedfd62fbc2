"""Which engine serves a request: the ``model`` field picks the pair, a bounded pool keeps engines.

Engines resolve configuration, models and prompts once, so the server keeps one
per (small, large, strategy, domain) instead of making one per request, and makes
it again when prellm.yaml changed. Clients choose these strings, so the pool is a
bounded LRU.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from ..config.loader import load_config
from ..engine import PreLLM
from ..errors import PreLLMError
from .errors import HTTPError
from .settings import ModelPair, ServerSettings

MAX_ENGINES = 64


def _not_allowed(model: str, why: str) -> HTTPError:
    return HTTPError(
        403, f"model {model!r} is not allowed: {why}", "permission_error", "model_not_allowed"
    )


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


CONFIG_RECHECK_S = 1.0  # an edited prellm.yaml takes effect within this


class EnginePool:
    """Engines by (small, large, strategy, domain), the least recently used dropped first."""

    def __init__(self, settings: ServerSettings, memory: Any, size: int = MAX_ENGINES) -> None:
        self.settings, self.memory, self.size = settings, memory, size
        self._engines: OrderedDict[tuple[str | None, ...], PreLLM] = OrderedDict()
        self._lock = threading.Lock()
        self._configs: dict[str | None, tuple[float, Any]] = {}

    def get(
        self, pair: ModelPair, strategy: str | None = None, domain: str | None = None
    ) -> PreLLM:
        key = (pair.small, pair.large, strategy or self.settings.strategy, domain)
        config = self._config(domain)
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

    def _config(self, domain: str | None) -> Any:
        """The same Config object while prellm.yaml and its files are unchanged: looked
        at (stat calls) at most once a second, not on every request."""
        now = time.monotonic()
        held = self._configs.get(domain)
        if held is not None and now - held[0] < CONFIG_RECHECK_S:
            return held[1]
        config = load_config(self.settings.config, domain=domain)
        self._configs[domain] = (now, config)
        return config

    def allowed(self, pair: ModelPair, requested: str) -> ModelPair:
        """``pair`` if the client may use it, else 403 ``model_not_allowed``.

        Clients never pick a model that runs from a local file: embedded models come
        only from the server's own configuration (flags, prellm.yaml, aliases).
        ``--allow-model`` patterns narrow what remote model strings clients may name.
        """
        import fnmatch

        from .. import providers

        configured = self._configured()
        for model in (pair.small, pair.large):
            if model is None or model in configured:
                continue
            if providers.is_embedded(model):
                raise _not_allowed(requested, "local models come from the server's configuration")
            patterns = self.settings.allow_models
            if patterns and not any(fnmatch.fnmatchcase(model, p) for p in patterns):
                raise _not_allowed(requested, "not in the server's --allow-model list")
        return pair

    def _configured(self) -> set[str]:
        s = self.settings
        names = {s.small, s.large, *(m for a in s.aliases.values() for m in (a.small, a.large))}
        try:
            small, large, _ = self.default().models
            names |= {small, large}
        except PreLLMError:
            pass
        return {n for n in names if n}

    def default(self) -> PreLLM:
        """The engine a ``prellm:default`` request gets."""
        return self.get(ModelPair(small=self.settings.small, large=self.settings.large))
