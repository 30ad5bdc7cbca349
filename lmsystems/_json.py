"""JSON decoding of answers and event data: orjson where it is installed, the standard library otherwise.

orjson decodes the server's payloads 3-4 times faster than `json` (it is a dependency on CPython, as it
is of langgraph-sdk). Its reading is strict RFC 8259; what it refuses (NaN, integers beyond 64 bits,
lone surrogates, UTF-16 bytes) is read by the standard library, so the values are the same either way.

Whatever the text, the only failure is a ValueError with a short message: JSON nested deeper than the
interpreter can follow (100,000 `[` from a hostile server) is refused, never a RecursionError.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["TooDeepError", "first_try", "loads"]


class TooDeepError(ValueError):
    """The JSON text nests arrays or objects deeper than can be decoded."""

    def __init__(self) -> None:
        super().__init__("JSON nested too deeply to decode")


def _slow_loads(text: str | bytes | bytearray, /) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeepError() from None


try:
    import orjson
except ImportError:  # pragma: no cover - interpreters without orjson wheels (e.g. PyPy)
    loads = _slow_loads
    first_try = _slow_loads
else:
    #: The fast decoder alone, for hot loops: when it raises a ValueError, call `loads` (which tries the
    #: standard library) for the value or the error.
    first_try = orjson.loads
    _fast_loads = orjson.loads
    _FastError = orjson.JSONDecodeError

    def loads(text: str | bytes | bytearray, /) -> Any:
        """Decode JSON text (a ValueError, with a short message, when it is not JSON)."""
        try:
            return _fast_loads(text)
        except _FastError:
            return _slow_loads(text)
