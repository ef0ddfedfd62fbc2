"""The ``prellm`` command. Heavy modules (pydantic, litellm, rich) load inside commands,
so ``prellm --help`` stays fast."""

from .main import main

__all__ = ["main"]
