"""Walking JSON values and JSON Schemas: which strings to redact, filled back after one batched pass.

``collect_json`` / ``collect_schema`` copy a value, putting a ``Slot`` where a
string is to be redacted; the filter redacts all the slots' texts in one pass
(so a payload of ten thousand short strings costs one scan, not ten thousand)
and ``fill`` puts the results back. Dict keys are never redacted.
"""

from __future__ import annotations

from typing import Any


class Slot:
    """A string to redact; ``text`` is replaced by its redacted form before ``fill``.

    ``key``: the name of the dict entry it is the value of (``{"password": "..."}``),
    the context that says a bare value is a secret.
    """

    __slots__ = ("text", "key")

    def __init__(self, text: str, key: str | None = None) -> None:
        self.text = text
        self.key = key


def collect_json(value: Any, slots: list[Slot], key: str | None = None) -> Any:
    """A copy of a JSON-like value with every string value (not dict key) replaced by a Slot."""
    if isinstance(value, str):
        slot = Slot(value, key)
        slots.append(slot)
        return slot
    if isinstance(value, dict):
        return {
            k: collect_json(v, slots, k if isinstance(k, str) else None) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [collect_json(v, slots) for v in value]
    return value  # numbers, booleans, None: immutable


# JSON Schema keywords whose string values are human text, and those holding example data.
_TEXT = {"description", "title", "$comment"}
_DATA = {"default", "examples", "example", "const"}
# keywords whose value maps names (never redacted) to subschemas
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}


def collect_schema(node: Any, slots: list[Slot]) -> Any:
    """A copy of a JSON Schema with Slots for its human text only.

    ``description``, ``title``, ``default``, ``examples``, ``const`` are redacted;
    property names, ``pattern``, ``enum``, ``type``, ``format``, ``$ref``,
    ``required`` and every other keyword are kept as they are.
    """
    if isinstance(node, list):
        return [collect_schema(v, slots) for v in node]
    if not isinstance(node, dict):
        return _copy(node)
    out: dict[Any, Any] = {}
    for key, value in node.items():
        if key in _TEXT and isinstance(value, str) or key in _DATA:
            out[key] = collect_json(value, slots)
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: collect_schema(sub, slots) for name, sub in value.items()}
        elif isinstance(value, dict | list) and key not in ("enum", "required"):
            out[key] = collect_schema(value, slots)
        else:
            out[key] = _copy(value)
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value


def fill(value: Any) -> Any:
    """Replace every Slot in a collected value by its (redacted) text, in place where possible."""
    if isinstance(value, Slot):
        return value.text
    if isinstance(value, dict):
        for k, v in value.items():
            value[k] = fill(v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = fill(v)
    return value
