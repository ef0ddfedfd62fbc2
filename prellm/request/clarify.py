"""Clarify: a matched rule adds its missing facts; under the ``ask`` policy, preLLM asks.

Asking beats guessing: when a rule with ``policy: ask`` finds facts missing, the
result is a question to the user, and the large model is not called.
"""

from __future__ import annotations

from ..language import language_name
from .deps import EngineDeps
from .state import RequestState


def clarify(deps: EngineDeps, state: RequestState) -> str | None:
    """The question to ask instead of answering, or None to go on."""
    rule, d = state.rule, state.decomposition
    if state.conv.continuation:
        return None  # rules speak to new user turns, not to an agent's tool loop
    if rule is None or (rule.rule.intents and d.intent not in rule.rule.intents):
        return None
    d.matched_rule = rule.rule.name
    d.missing = list(dict.fromkeys([*rule.missing, *d.missing]))
    if not (rule.missing and rule.rule.policy == "ask"):
        return None
    state.notices.append(
        f"rule {rule.rule.name!r} asks before answering; the large model was not called"
    )
    query = state.conv.query
    return deps.prompts.render(
        "compose.clarify", missing=rule.missing, language=language_name(None, query)
    )
