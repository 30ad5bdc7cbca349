"""Check the shape of an answer before reading it: a wrong shape is an APIResponseError, never a KeyError."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._exceptions import APIResponseError
from ._requests import RequestSpec

Call = RequestSpec | str


def _name(call: Call) -> str:
    return f"{call.method} {call.path}" if isinstance(call, RequestSpec) else call


def _shape(value: Any) -> str:
    return "nothing" if value is None else f"a JSON {type(value).__name__}"


def object_answer(answer: Any, *, call: Call, fields: Sequence[str] = ()) -> dict[str, Any]:
    """The answer as a dict that has `fields`; otherwise an APIResponseError naming the call and the field."""
    if not isinstance(answer, dict):
        raise APIResponseError(
            f"{_name(call)}: the server answered {_shape(answer)} where an object was expected"
        )
    for name in fields:
        if name not in answer:
            raise APIResponseError(f"{_name(call)}: the server's answer lacks the field {name!r}")
    return answer


def list_answer(answer: Any, *, call: Call, items_with: Sequence[str] = ()) -> list[Any]:
    """The answer as a list (of objects with `items_with`, when given)."""
    if not isinstance(answer, list):
        raise APIResponseError(
            f"{_name(call)}: the server answered {_shape(answer)} where a list was expected"
        )
    if items_with:
        for item in answer:
            object_answer(item, call=call, fields=items_with)
    return answer


def field_of(answer: Any, name: str, *, call: Call) -> Any:
    """One field of an object answer."""
    return object_answer(answer, call=call, fields=(name,))[name]
