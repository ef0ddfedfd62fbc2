"""LangChain integration for preLLM: ``ChatPreLLM``."""

from .chat_models import ChatPreLLM

__all__ = ["ChatPreLLM"]
__version__ = "0.1.0"
