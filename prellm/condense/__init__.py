"""Condensing pasted material (logs, stack traces, diffs, documents) into ranked evidence.

Pure Python and model-free: a 10k-line pod log becomes a few dozen findings (log
templates with counts, time windows and pods; exception chains; failing tests; diff
hunks; relevant sections) that ``Condensed.render`` writes within a token budget.

    question, block = split_paste(prompt)
    if block is not None:
        evidence = condense([Material("pasted", block)], query=question).render(3000)
"""

from __future__ import annotations

from .core import condense
from .detect import detect_kind, split_paste
from .merge import merge
from .model import INCIDENT_KINDS, Condensed, Finding, Material, count_tokens
from .text import chunk, decode

__all__ = [
    "INCIDENT_KINDS",
    "Condensed",
    "Finding",
    "Material",
    "chunk",
    "condense",
    "count_tokens",
    "decode",
    "detect_kind",
    "merge",
    "split_paste",
]
