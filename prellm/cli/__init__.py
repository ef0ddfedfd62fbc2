"""The ``prellm`` command. Heavy modules (pydantic, litellm, rich) load inside commands,
so ``prellm --help`` stays fast."""

from . import config, context, db, doctor, eval, host, keys, serve, state  # noqa: F401  (register the commands)
from .main import cli, main

__all__ = ["cli", "main"]
