"""Route: which strategy or pipeline makes the prompt, under which rule, with which schema.

A matched domain rule picks the strategy when the choice was left to preLLM
(the engine's strategy is ``auto`` and the caller named none). A pipeline comes
from the call, or from prellm.yaml when the caller named no strategy.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..response_schema import schema_request
from ..rules import match_rules
from ..strategies import get_strategy
from .deps import EngineDeps
from .state import RequestState


def route(deps: EngineDeps, state: RequestState) -> None:
    opts, cfg = state.opts, deps.config
    state.schema = schema_request(cfg.schemas, opts.response_schema)
    state.rule = rule = match_rules(state.conv.query, cfg.rules)
    requested = opts.strategy or deps.strategy
    if (
        rule
        and rule.rule.strategy
        and not opts.strategy
        and deps.strategy == "auto"
        and not rule.rule.intents
    ):
        requested = rule.rule.strategy
    state.requested = requested
    state.strategy = get_strategy(requested)
    pipeline = opts.pipeline or (cfg.file.pipeline if not opts.strategy else None)
    if pipeline and pipeline not in cfg.pipelines:
        raise ConfigError(
            f"unknown pipeline {pipeline!r}; known: {', '.join(sorted(cfg.pipelines))}"
        )
    state.pipeline = pipeline
    state.notices.extend(deps.model_notices)
