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


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the node at ``loc`` (keys and list indexes), or of its nearest parent."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def errors_of(exc: ValidationError, text: str, source: str, limit: int = 10) -> list[str]:
    out = []
    for e in exc.errors()[:limit]:
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = _line_of(text, loc)
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(f"{source}:{line or 1}: {key}: {msg}")
    return out


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
