"""Keeping secrets and personal data from leaving the machine."""

from .filter import SensitiveDataFilter, StreamRestorer
from .rules import RuleSpec, SensitiveDataError, default_rules, load_rules

__all__ = [
    "RuleSpec",
    "SensitiveDataError",
    "SensitiveDataFilter",
    "StreamRestorer",
    "default_rules",
    "load_rules",
]
