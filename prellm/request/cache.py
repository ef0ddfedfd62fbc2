"""Decomposition cache: the same analysis asked again costs no small-model call.

The key is a hash of everything the small model's answer depends on: the query
(whitespace and Unicode normalised), the history and the memory it was shown,
the context, the strategy or pipeline, the small model and its parameters, the
prompt templates, rules, pipelines and schemas, the intents offered, and the
caller (API key, virtual key, user): one caller's decomposition never serves
another. The value is the decomposition and the strategy to compose with, kept
in the state store (``StateCache``: SQLite by default, the shared database when
``PRELLM_DATABASE_URL`` is set) under ``NAMESPACE``, bounded per namespace and
expiring after ``PRELLM_CACHE_TTL`` seconds (0 turns the cache off).

Never cached: fallbacks (the small model failed or answered badly), requests
whose text holds a value the sensitive-data filter redacts (the decomposition
would carry it in clear, or placeholders that mean something only within the
request that made them), and pipelines over a project (``codebase_path``: files
change without the key changing).
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
import weakref
from dataclasses import dataclass
from typing import Any

from ..models import Decomposition
from ..safety import SensitiveDataFilter
from ..store.budget import key_label
from .deps import EngineDeps
from .state import RequestState

NAMESPACE = "decompositions"
TTL_ENV = "PRELLM_CACHE_TTL"
DEFAULT_TTL_S = 7 * 24 * 3600.0
VERSION = 1  # of the key's material and the stored value


@dataclass(frozen=True)
class Probe:
    """One request's look into the cache: its key (None: not cacheable), what was found."""

    key: str | None
    found: dict[str, Any] | None = None


def ttl_s() -> float:
    """Seconds a decomposition is kept (``PRELLM_CACHE_TTL``); 0 or less: the cache is off."""
    raw = os.environ.get(TTL_ENV, "").strip()
    try:
        return float(raw) if raw else DEFAULT_TTL_S
    except ValueError:
        return DEFAULT_TTL_S


def lookup(deps: EngineDeps, state: RequestState, intents: list[dict[str, str]]) -> Probe:
    """The cached analysis for this request, if any; sets ``state.cache``."""
    reason = _not_cacheable(deps, state)
    if reason is not None:
        state.cache = "off"
        state.step("decomposition cache", result="off", reason=reason)
        return Probe(None)
    key = _key(deps, state, intents)
    found = deps.turns.get(NAMESPACE, key) if deps.turns is not None else None
    if found is not None and found.get("v") != VERSION:
        found = None
    state.cache = "hit" if found is not None else "miss"
    state.step("decomposition cache", result=state.cache, key=key[:16])
    return Probe(key, found)


def cached_decomposition(probe: Probe) -> tuple[Decomposition, str]:
    """The decomposition and strategy a hit carries."""
    assert probe.found is not None
    return Decomposition.model_validate(probe.found["decomposition"]), probe.found["strategy"]


def store(
    deps: EngineDeps, probe: Probe, decomposition: Decomposition | None, strategy: str
) -> None:
    """Keep a successful analysis under the probe's key (the caller never passes a fallback)."""
    if probe.key is None or deps.turns is None or probe.found is not None:
        return
    if decomposition is None or decomposition.fallback_reason:
        return
    value = {"v": VERSION, "decomposition": decomposition.model_dump(mode="json")}
    value["strategy"] = strategy
    deps.turns.put(NAMESPACE, probe.key, value, ttl_s())


def _not_cacheable(deps: EngineDeps, state: RequestState) -> str | None:
    if not state.opts.cache:
        return "turned off for this request"
    if deps.turns is None:
        return "no state store (the ledger is off)"
    if ttl_s() <= 0:
        return f"{TTL_ENV} is 0"
    if state.pipeline and state.opts.codebase_path:
        return "a pipeline over a project"
    if state.guard is not None and _redacts(state):
        return "the request holds redacted values"
    return None


def _redacts(state: RequestState) -> bool:
    """Would the request's filter redact anything the small model reads?

    Asked of a filter of its own, with the same rules: the request's placeholders
    and redaction counts stay as they would be without the cache.
    """
    assert state.guard is not None
    probe = SensitiveDataFilter(state.guard.rules)
    texts = [state.conv.query, state.conv.history_text(), state.memory_text]
    texts.append(state.analysis_context())
    return any(t and probe.redact(t) != t for t in texts)


def _normalised(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _key(deps: EngineDeps, state: RequestState, intents: list[dict[str, str]]) -> str:
    opts, principal = state.opts, state.opts.principal
    material = {
        "v": VERSION,
        "query": _normalised(state.conv.query),
        "history": state.conv.history_text(),
        "memory": state.memory_text,
        "context": state.analysis_context(),
        "strategy": state.strategy.name,
        "pipeline": state.pipeline,
        "small": deps.small,
        "small_kwargs": {**deps.small_kwargs, **opts.small_kwargs},
        "intents": intents,
        "engine": _engine_fingerprint(deps),
        "caller": {
            "key": key_label(opts.budget_key),
            "principal": [principal.kind, principal.key_id, principal.team_id]
            if principal
            else None,
            "user": state.user,
        },
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_fingerprints: dict[int, tuple[weakref.ref[EngineDeps], str]] = {}


def _engine_fingerprint(deps: EngineDeps) -> str:
    """A hash of the engine's prompts, rules, pipelines, schemas and domain (once per engine)."""
    held = _fingerprints.get(id(deps))
    if held is not None and held[0]() is deps:
        return held[1]
    cfg = deps.config
    material = {
        "prompts": {k: v.model_dump() for k, v in sorted(deps.prompts.prompts.items())},
        "rules": [r.model_dump() for r in cfg.rules],
        "pipelines": {k: v.model_dump() for k, v in sorted(cfg.pipelines.items())},
        "schemas": {k: v.model_dump() for k, v in sorted(cfg.schemas.items())},
        "domain": [cfg.file.domain, cfg.domain_context],
        "shortlist": deps.intent_shortlist[1] if deps.intent_shortlist else None,
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    ident = id(deps)
    _fingerprints[ident] = (weakref.ref(deps, lambda _: _fingerprints.pop(ident, None)), digest)
    return digest
