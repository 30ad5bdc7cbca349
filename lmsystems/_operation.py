"""Mark which API operations (operationIds of openapi/) a facade method performs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


def operation(*operation_ids: str) -> Callable[[F], F]:
    """Record on a method the operationIds it calls (read by the test that walks the spec)."""

    def mark(method: F) -> F:
        method.__lmsystems_operations__ = operation_ids  # type: ignore[attr-defined]
        return method

    return mark
