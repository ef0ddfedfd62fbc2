"""Reading a user's YAML file into a Pydantic model, with errors that name file, line and key.

``yaml.safe_load`` only (never code); on a validation error the YAML node tree is
walked to the failing key, so the message reads ``prellm.yaml:7: large.timeout:
Input should be a valid number``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .resources import load_yaml_text

M = TypeVar("M", bound=BaseModel)


def _locate(
    text: str, loc: tuple[Any, ...], missing: bool = False
) -> tuple[int | None, tuple[Any, ...]]:
    """(1-based line, the part of ``loc`` that exists in the YAML) for an error location.

    Parts that are not keys in the file (pydantic's union member tags such as ``str``
    or ``ModelSpec``) are skipped.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None, loc
    if node is None:  # an empty file: only a missing top-level key can be named
        return None, loc if missing and len(loc) == 1 else ()
    line = node.start_mark.line + 1
    real: list[Any] = []
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line, node = k.start_mark.line + 1, v
                    real.append(part)
                    break
            else:
                if missing and part == loc[-1]:
                    real.append(part)  # a missing required key: point at its parent
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
            real.append(part)
    return line, tuple(real)


def errors_of(exc: ValidationError, text: str, source: str, limit: int = 10) -> list[str]:
    located = []
    for e in exc.errors():
        line, loc = _locate(text, tuple(e["loc"]), missing=e["type"] == "missing")
        located.append((line, loc, e))
    # For a union, each member reports; keep the deepest (most specific) per key.
    deepest: dict[Any, int] = {}
    for _, loc, _ in located:
        top = loc[:1]
        deepest[top] = max(deepest.get(top, 0), len(loc))
    out: list[str] = []
    for line, loc, e in located:
        if len(loc) < deepest[loc[:1]]:
            continue
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        entry = f"{source}:{line or 1}: {key}: {msg}"
        if entry not in out:
            out.append(entry)
    return out[:limit]


def parse_model(text: str, model: type[M], source: str) -> M:
    data = load_yaml_text(text, source)
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = errors_of(exc, text, source)
        raise ConfigError("; ".join(problems)) from None


def load_model(path: str | Path, model: type[M]) -> M:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_model(text, model, str(path))
