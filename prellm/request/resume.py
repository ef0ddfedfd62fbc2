"""Resume: an agent's next step reuses the user turn composed at its first step.

Agents send the whole conversation again after every tool call. The small model
runs only on a new user turn; when the last message is a tool result (or an
assistant turn), the request goes to the large model with the earlier user turn
exactly as preLLM composed it then, found in the state store by a hash of the
conversation up to that turn, the options and the caller. The proxy keeps no
state between requests, so every worker and replica finds it there. Not found:
the conversation goes as the client sent it, and the result says so.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..store.budget import key_label
from ..strategies import Composition, get_strategy
from .deps import EngineDeps
from .state import RequestState

NAMESPACE = "turns"
TTL_S = 6 * 3600  # an agent session's length, generously


def turn_key(deps: EngineDeps, state: RequestState) -> str:
    """The stored turn's key: the conversation up to that user turn, options, caller."""
    opts = state.opts
    material = {
        "messages": state.conv.messages[: state.conv.last_user + 1],
        "strategy": opts.strategy or deps.strategy,
        "pipeline": opts.pipeline,
        "models": [deps.small, deps.large],
        "user_context": state.user_context,
        "caller": key_label(opts.budget_key) or opts.user,
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def resume(deps: EngineDeps, state: RequestState) -> None:
    state.strategy, state.pipeline = get_strategy("passthrough"), None
    stored = deps.turns.get(NAMESPACE, turn_key(deps, state)) if deps.turns else None
    if stored is not None:
        state.resumed = Composition(system=stored.get("system"), user=stored.get("user"))
        state.notices.append("agent continuation: the user turn composed earlier was reused")
        return
    reason = "agent continuation: no composed turn stored for this conversation; sent as received"
    state.decomposition.fallback_reason = reason
    state.notices.append(reason)


def remember(deps: EngineDeps, state: RequestState, composition: Composition) -> None:
    """Store a new user turn's composition when an agent may come back with tool results."""
    if deps.turns is None or state.conv.continuation or not _agentic(state.params):
        return
    if composition.system is None and composition.user is None:
        return
    value = {"system": composition.system, "user": composition.user}
    deps.turns.put(NAMESPACE, turn_key(deps, state), value, TTL_S)


def _agentic(params: dict[str, Any]) -> bool:
    return bool(params.get("tools") or params.get("functions"))
