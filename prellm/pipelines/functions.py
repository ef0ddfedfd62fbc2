"""The algorithmic steps a pipeline may name. Each takes the run and its evaluated arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import Run


def match_rules(run: Run) -> dict[str, Any] | None:
    """The domain rule the request matches: name, strategy, policy, missing facts."""
    from ..rules import match_rules as match

    m = match(run.variables["query"], run.rules)
    if m is None:
        return None
    return {
        "name": m.rule.name,
        "strategy": m.rule.strategy,
        "policy": m.rule.policy,
        "missing": m.missing,
        "context": m.rule.context,
    }


def redact(run: Run, text: str = "") -> str:
    """The text with secrets and personal data replaced by the request's placeholders."""
    return run.guard.redact(str(text)) if run.guard else str(text)


def compress_context(run: Run, path: str | None = None, budget: int = 2000) -> str | None:
    """A query-ranked summary of the project at ``path`` within ``budget`` tokens."""
    if not path:
        return None
    from ..context import FolderCompressor

    return FolderCompressor(path, int(budget)).summarize(run.variables["query"]).text


def runtime(run: Run) -> str:
    """OS, Python, tools and git state (names of environment variables, never values)."""
    from ..context import collect_runtime, runtime_text

    return runtime_text(collect_runtime())


def merge(run: Run, items: list[Any] | None = None) -> dict[str, Any]:
    """Later dicts fill what earlier ones left empty; lists are joined without duplicates."""
    out: dict[str, Any] = {}
    for item in items or []:
        if not isinstance(item, dict):
            continue
        for k, v in item.items():
            if isinstance(v, list) and isinstance(out.get(k), list):
                out[k] = list(dict.fromkeys([*out[k], *v]))
            elif out.get(k) in (None, "", [], {}):
                out[k] = v
    return out


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "match_rules": match_rules,
    "redact": redact,
    "compress_context": compress_context,
    "runtime": runtime,
    "merge": merge,
}
