"""The allowed values of a request field, read from the spec's generated TypedDicts (one source of truth)."""

from __future__ import annotations

import functools
import typing
from typing import Any, Literal, get_args, get_origin


def _literals(annotation: Any) -> list[str]:
    """Every Literal string inside an annotation (through NotRequired, lists and unions)."""
    if get_origin(annotation) is Literal:
        return [value for value in get_args(annotation) if isinstance(value, str)]
    found: list[str] = []
    for argument in get_args(annotation):
        found += [value for value in _literals(argument) if value not in found]
    return found


@functools.cache
def choices(typed_dict: str, field: str) -> tuple[str, ...]:
    """The values the spec allows for `field` of the generated request TypedDict named `typed_dict`.

    The generated module is the SDK's largest: it is loaded by the first check that needs it.
    """
    from lmsystems_generated import agent_server_types  # noqa: PLC0415

    hints = typing.get_type_hints(getattr(agent_server_types, typed_dict), include_extras=True)
    values = tuple(_literals(hints[field]))
    if not values:
        raise LookupError(f"{typed_dict}.{field} allows no fixed values in the spec")
    return values
