"""Keeping secrets and personal data from leaving the machine."""

from .filter import SensitiveDataFilter, StreamRestorer, load_rules

__all__ = ["SensitiveDataFilter", "StreamRestorer", "load_rules"]
