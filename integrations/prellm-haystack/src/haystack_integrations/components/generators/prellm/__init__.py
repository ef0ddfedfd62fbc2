"""Haystack integration for preLLM: ``PreLLMChatGenerator``."""

from .chat_generator import PreLLMChatGenerator

__all__ = ["PreLLMChatGenerator"]
__version__ = "0.1.0"
