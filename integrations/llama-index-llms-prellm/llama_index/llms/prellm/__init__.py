"""LlamaIndex integration for preLLM: ``PreLLM``, a function-calling LLM."""

from .base import PreLLM

__all__ = ["PreLLM"]
__version__ = "0.1.0"
