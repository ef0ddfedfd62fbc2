"""Response schemas: a schemas.yaml entry (or a dict, or a Pydantic model) becomes a
Pydantic model and a JSON Schema; the large model is asked for it through the one
JSON call (``prellm.structured``), as Instructor does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import Field, create_model

from .config.schema import FieldSpec, ResponseSchemaSpec
from .errors import ConfigError
from .structured import compact_schema


def _annotation(spec: FieldSpec) -> Any:
    if spec.enum:
        return Literal[tuple(spec.enum)]
    if spec.type == "array":
        return list[_annotation(spec.items) if spec.items else Any]  # type: ignore[misc]
    if spec.type == "object":
        if spec.fields:
            return model_of("Nested", ResponseSchemaSpec(fields=spec.fields))
        return dict[str, Any]
    return {"string": str, "integer": int, "number": float, "boolean": bool}[spec.type]


def model_of(name: str, spec: ResponseSchemaSpec) -> type[pydantic.BaseModel]:
    """The Pydantic model of a schemas.yaml entry (and so its JSON Schema)."""
    fields: dict[str, Any] = {}
    for key, f in spec.fields.items():
        constraints: dict[str, Any] = {
            k: v
            for k, v in {
                "ge": f.minimum,
                "le": f.maximum,
                "min_length": f.min_length,
                "max_length": f.max_length,
                "description": f.description,
            }.items()
            if v is not None
        }
        ann = _annotation(f) if f.required else _annotation(f) | None
        fields[key] = (ann, Field(... if f.required else None, **constraints))
    return create_model(
        name.title().replace("_", "").replace("-", "") or "Response",
        __config__=pydantic.ConfigDict(extra="forbid"),
        **fields,
    )


@dataclass(frozen=True)
class SchemaRequest:
    name: str
    model: type[pydantic.BaseModel]
    json_schema: dict[str, Any]


def schema_request(
    schemas: dict[str, ResponseSchemaSpec],
    schema: str | dict[str, Any] | type[pydantic.BaseModel] | None,
) -> SchemaRequest | None:
    """A response schema by name (schemas.yaml), as a YAML-style dict, or a Pydantic model."""
    if schema is None:
        return None
    if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
        return SchemaRequest(schema.__name__, schema, compact_schema(schema))
    if isinstance(schema, str):
        spec = schemas.get(schema)
        if spec is None:
            known = ", ".join(sorted(schemas)) or "none configured"
            raise ConfigError(f"unknown response schema {schema!r} (known: {known})")
        name = schema
    else:
        try:
            spec, name = ResponseSchemaSpec.model_validate(schema), "response"
        except pydantic.ValidationError as exc:
            raise ConfigError(f"invalid response schema: {exc.errors()[0]['msg']}") from None
    model = model_of(name, spec)
    return SchemaRequest(name, model, compact_schema(model))
