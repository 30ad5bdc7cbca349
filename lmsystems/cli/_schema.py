"""A JSON Schema's top-level keys with short type names, for `lmsystems graphs show` (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: How deep `type_name` follows nested schemas ($ref chains, anyOf, items) before it says `...`.
_MAX_DEPTH = 6
#: How many types of a union are named.
_MAX_UNION = 4
_MESSAGE = re.compile(r"[A-Za-z]*Message(Chunk)?")


@dataclass(frozen=True)
class Field:
    """One key of a schema: its name, a short type (`string`, `list[Message]`, `string | null`)."""

    name: str
    type: str
    required: bool


def schema_fields(schema: Any) -> list[Field]:
    """The keys of an object schema, in order. A config schema's `configurable` object is opened: its
    keys are what a run's `config={"configurable": ...}` takes."""
    root = schema if isinstance(schema, Mapping) else {}
    target = _resolve(root, root)
    properties = target.get("properties")
    if not isinstance(properties, Mapping):
        return []
    if list(properties) == ["configurable"]:
        inner = _resolve(root, properties["configurable"])
        if isinstance(inner.get("properties"), Mapping):
            target, properties = inner, inner["properties"]
    required = target.get("required")
    needed = set(required) if isinstance(required, list) else set()
    return [Field(str(name), type_name(root, value), name in needed) for name, value in properties.items()]


def type_name(root: Mapping[str, Any], schema: Any, depth: int = 0) -> str:
    """A short name for a schema's type: `string`, `integer`, `list[string]`, `Message`, `a | b`."""
    if depth > _MAX_DEPTH or not isinstance(schema, Mapping):
        return "..." if depth > _MAX_DEPTH else "any"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            names = list(dict.fromkeys(type_name(root, option, depth + 1) for option in options))
            if all(_MESSAGE.fullmatch(name) for name in names):
                return "message"  # LangChain's message classes, as a `messages` key lists them
            if len(names) > _MAX_UNION:
                return " | ".join(names[:_MAX_UNION]) + f" | ... ({len(names)} types)"
            return " | ".join(names)
    if "enum" in schema and isinstance(schema["enum"], list):
        return " | ".join(repr(value) for value in schema["enum"][:6]) + (
            " | ..." if len(schema["enum"]) > 6 else ""
        )
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        return f"list[{type_name(root, schema.get('items'), depth + 1)}]"
    if kind == "object" and isinstance(schema.get("title"), str) and schema.get("properties"):
        return str(schema["title"])
    if isinstance(kind, str):
        return "dict" if kind == "object" else kind
    return "any"


def _resolve(root: Mapping[str, Any], schema: Any) -> Mapping[str, Any]:
    """A schema with its local `$ref` (`#/$defs/X`, `#/definitions/X`) followed, a few levels at most."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(schema, Mapping):
            return {}
        ref = schema.get("$ref")
        if not (isinstance(ref, str) and ref.startswith("#/")):
            return schema
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        schema = target
    return schema if isinstance(schema, Mapping) else {}
