"""Shipped YAML, read from the installed package (works from any directory and from the wheel)."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from ..errors import ConfigError


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML safely; a syntax error becomes a ConfigError naming file and line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


@functools.cache
def shipped_yaml(name: str) -> Any:
    """A YAML file from ``prellm/data``, parsed once per process (treat the result as read-only)."""
    text = resources.files("prellm.data").joinpath(name).read_text(encoding="utf-8")
    return load_yaml_text(text, f"prellm/data/{name}")
