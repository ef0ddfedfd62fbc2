"""The ``prellm`` command. Heavy modules (pydantic, litellm, rich) load inside commands,
so ``prellm --help`` stays fast."""

from . import serve  # noqa: F401  (registers the command)
from .main import cli, main

__all__ = ["cli", "main"]
