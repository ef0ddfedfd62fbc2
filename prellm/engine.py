"""The engine: a configuration bound once, requests run along one path.

``PreLLM`` resolves its configuration, models, prompts and intents into a frozen
``EngineDeps`` (once per engine) and runs each request through
``prellm.request.run_request``: admit → route → gather → analyse → clarify →
compose → answer → finish. Strategies only declare what to ask the small model
and how to compose; every model call goes through ``prellm.providers``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import providers
from .config.loader import Config, load_config
from .config.prompts import PromptRegistry
from .config.resources import shipped_yaml
from .errors import ConfigError
from .models import PreLLMResult
from .observability.logging import install_scrubber
from .pipelines.check import check_config
from .request import EngineDeps, Event, RunOptions, check_llm_kwargs, run_request
from .request.options import run_options, with_options
from .store import BudgetTracker, Limits, UserMemory
from .strategies import get_strategy

install_scrubber()

__all__ = ["Event", "PreLLM"]


class PreLLM:
    """An engine bound to a configuration: models, default strategy, prompts, intents.

    ``llm_kwargs`` (temperature, max_tokens, api_base, api_key, timeout, ...: any
    litellm ``completion()`` parameter) go to every large-model call;
    ``small_kwargs`` to the small model's.
    """

    def __init__(
        self,
        small_llm: str | None = None,
        large_llm: str | None = None,
        strategy: str | None = None,
        *,
        config: Config | str | Path | None = None,
        domain: str | None = None,
        small_kwargs: dict[str, Any] | None = None,
        prompts: PromptRegistry | None = None,
        intents: list[dict[str, str]] | None = None,
        sanitize: bool | None = None,
        budget: BudgetTracker | None | bool = True,
        memory: UserMemory | None = None,
        trace: bool | None = None,
        trace_dir: str | None = None,
        **llm_kwargs: Any,
    ) -> None:
        # Explicit arguments win over the config file, which wins over the environment.
        cfg = config if isinstance(config, Config) else load_config(config, domain=domain)
        self.config = check_config(cfg)
        self.strategy = strategy or cfg.file.strategy
        get_strategy(self.strategy)  # fail on a typo now, not at the first query
        cfg_small, cfg_small_kwargs = cfg.model("small")
        cfg_large, cfg_large_kwargs = cfg.model("large")
        self._models = (small_llm or cfg_small, large_llm or cfg_large)
        self.small_kwargs = {**cfg_small_kwargs, **(small_kwargs or {})}
        self.llm_kwargs = {**cfg_large_kwargs, **check_llm_kwargs(llm_kwargs, "PreLLM()")}
        self._prompts, self._intents = prompts, intents
        self.sanitize = cfg.file.sanitize if sanitize is None else sanitize
        # The usage ledger is on unless turned off (budget=False or PRELLM_NO_LEDGER=1).
        if budget is True:
            b = cfg.file.budget
            limits = Limits(b.monthly, b.daily, dict(b.per_model_monthly)) if b else None
            budget = None if os.environ.get("PRELLM_NO_LEDGER") else BudgetTracker.shared(limits)
        self.budget = budget or None
        self.memory = memory
        self.trace = cfg.file.trace if trace is None else trace
        self.trace_dir = trace_dir
        # Composed user turns for agent tool loops: in the state store, found by every worker.
        self.turns = None if self.budget is None else _turns()

    @cached_property
    def models(self) -> tuple[str, str, list[str]]:
        """(small, large, notices about defaults taken): resolved on first use."""
        return providers.resolve_models(*self._models)

    @cached_property
    def deps(self) -> EngineDeps:
        """What every request of this engine shares, frozen."""
        small, large, notices = self.models
        cfg = self.config
        return EngineDeps(
            config=cfg,
            strategy=self.strategy,
            small=small,
            large=large,
            model_notices=tuple(notices),
            small_kwargs=MappingProxyType(dict(self.small_kwargs)),
            llm_kwargs=MappingProxyType(dict(self.llm_kwargs)),
            prompts=self._prompts or cfg.prompts or PromptRegistry.default(),
            intents=tuple(self._intents or cfg.intents or shipped_yaml("intents.yaml")["intents"]),
            # The intents file's shortlist; intents given to the engine directly are offered whole.
            intent_shortlist=None if self._intents else cfg.intent_shortlist,
            sanitize=self.sanitize,
            budget=self.budget,
            memory=self.memory,
            trace=self.trace,
            trace_dir=self.trace_dir,
            turns=self.turns,
        )

    @property
    def prompts(self) -> PromptRegistry:
        return self.deps.prompts

    @property
    def intents(self) -> list[dict[str, str]]:
        return list(self.deps.intents)

    # --- public surface ---------------------------------------------------------------

    async def arun(self, query: str | None = None, **options: Any) -> PreLLMResult:
        """Run a request and return the result (the large model's answer is not streamed).

        ``options`` are preLLM's per-call options (see ``prellm.request.run_options``)
        and litellm ``completion()`` parameters for the large model; any other name
        is a ``ConfigError``.
        """
        return await self.arun_options(query, run_options(**options))

    async def arun_options(self, query: str | None, opts: RunOptions) -> PreLLMResult:
        """``arun`` with options already collected (what adapters such as the server use)."""
        done = None
        # Run the path to its end (not return at the result): the budget settles after it.
        async for event in run_request(self.deps, query, opts, stream=False):
            if isinstance(event, PreLLMResult):
                done = event
        if done is None:  # pragma: no cover
            raise AssertionError("engine ended without a result")
        return done

    async def astream(self, query: str | None = None, **options: Any) -> AsyncIterator[Event]:
        """Yield stage events and text chunks as they happen, then the PreLLMResult.

        Takes the same keyword-only options as :meth:`arun`.
        """
        opts = run_options(**options)
        async for event in run_request(self.deps, query, opts, stream=True):
            yield event

    def astream_options(self, query: str | None, opts: RunOptions) -> AsyncIterator[Event]:
        return run_request(self.deps, query, opts, stream=True)

    def run(self, query: str | None = None, **options: Any) -> PreLLMResult:
        """The blocking twin of :meth:`arun` (same options; not inside an event loop)."""
        opts = run_options(**options)
        return _run_sync(self.arun_options(query, opts))  # type: ignore[no-any-return]

    def stream(self, query: str | None = None, **options: Any) -> Iterator[Event]:
        """The blocking twin of :meth:`astream`."""
        opts = run_options(**options)
        with asyncio.Runner() as runner:
            agen = self.astream_options(query, opts)
            while True:
                try:
                    yield runner.run(_next(agen))
                except StopAsyncIteration:
                    return


# help() and IDEs show the options the methods take.
for _method in (PreLLM.arun, PreLLM.astream, PreLLM.run, PreLLM.stream):
    _method.__signature__ = with_options(_method)  # type: ignore[union-attr]


def _turns() -> Any:
    from .store.cache import StateCache

    return StateCache.shared()


async def _next(agen: AsyncIterator[Event]) -> Event:
    return await anext(agen)


def _run_sync(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise ConfigError(
        "called the sync API inside a running event loop; use `await ...arun()` instead"
    )
