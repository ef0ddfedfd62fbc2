"""Seeing what preLLM did: execution traces and logging."""

from .logging import setup_logging
from .trace import Trace

__all__ = ["Trace", "setup_logging"]
