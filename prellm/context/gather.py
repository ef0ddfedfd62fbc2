"""Assembling the context text a request carries: the caller's, preferences, runtime, project."""

from __future__ import annotations

from typing import Any

from .codebase import FolderCompressor
from .runtime import collect_runtime, runtime_text


def join_history(history: str, memory_text: str | None, strategy: str) -> str:
    # Memory helps the strategies that reason about context; the others stay focused.
    if memory_text and strategy in ("enrich", "auto"):
        return "\n".join(filter(None, [memory_text, history]))
    return history


def join_context(user_context: str | dict[str, Any] | None, prefs: dict[str, str]) -> str:
    pref_text = "preferences: " + ", ".join(f"{k}={v}" for k, v in prefs.items())
    return "; ".join(filter(None, [context_text(user_context), pref_text]))


def gather_context(
    query: str, codebase: str | None, budget: int, runtime: bool, notices: list[str]
) -> str:

    parts = []
    if runtime:
        parts.append(runtime_text(collect_runtime()))
    if codebase:
        summary = FolderCompressor(codebase, budget).summarize(query)
        notices.append(
            f"project context: {summary.files_listed} of {summary.files_seen} files, ~{summary.tokens} tokens"
        )
        parts.append("Project:\n" + summary.text)
    return "\n".join(parts)


def context_text(user_context: str | dict[str, Any] | None) -> str | None:
    if user_context is None or user_context == "" or user_context == {}:
        return None
    if isinstance(user_context, dict):
        return "; ".join(f"{k}: {v}" for k, v in user_context.items())
    return str(user_context)
