"""Context that makes the large model's answer fit: the project (codebase) and the machine (runtime)."""

from .codebase import CodebaseSummary, FolderCompressor, estimate_tokens
from .runtime import collect_runtime, runtime_text

__all__ = [
    "CodebaseSummary",
    "FolderCompressor",
    "collect_runtime",
    "estimate_tokens",
    "runtime_text",
]
