"""Schema analysis: the top-level, required and enum fields of a (possibly referenced) schema."""

from __future__ import annotations

import json
from typing import Any

from .spec import Spec


def top_fields(spec: Spec, schema: Any, _depth: int = 0) -> dict[str, Any] | None:
    """Top-level properties of an object schema (through ``$ref``, ``allOf``/``anyOf``/``oneOf`` and,
    for an array, its items). None when the schema names no properties at all (free-form)."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or _depth > 8:
        return None
    if "items" in schema and "properties" not in schema:
        return top_fields(spec, schema["items"], _depth + 1)
    fields: dict[str, Any] | None = None
    if isinstance(schema.get("properties"), dict):
        fields = dict(schema["properties"])
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword) or []:
            sub_fields = top_fields(spec, sub, _depth + 1)
            if sub_fields is not None:
                fields = {**sub_fields, **(fields or {})}
    return fields


def required_fields(spec: Spec, schema: Any, _depth: int = 0) -> set[str]:
    """Fields every instance must have (``required`` of the schema and of its ``allOf`` members)."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or _depth > 8:
        return set()
    if "items" in schema and "properties" not in schema:
        return required_fields(spec, schema["items"], _depth + 1)
    found = set(schema.get("required") or [])
    for sub in schema.get("allOf") or []:
        found |= required_fields(spec, sub, _depth + 1)
    return found


def enum_values(spec: Spec, schema: Any, _depth: int = 0) -> frozenset[str]:
    """Every ``enum``/``const`` value a field allows (through refs, combinators and array items)."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or _depth > 8:
        return frozenset()
    values: set[str] = set()
    for value in [*(schema.get("enum") or []), *([schema["const"]] if "const" in schema else [])]:
        if value is not None:
            values.add(value if isinstance(value, str) else json.dumps(value))
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword) or []:
            values |= enum_values(spec, sub, _depth + 1)
    if isinstance(schema.get("items"), dict):
        values |= enum_values(spec, schema["items"], _depth + 1)
    return frozenset(values)
