"""The exception we caught, made safe to keep as the `__cause__` of ours.

httpx's and langgraph-sdk's exceptions hold the request they failed on, and its headers hold the API key.
`masked(error)` is a copy of the same type (where it can be built again) with a redacted message, the
request rebuilt without its secret headers, and no traceback (whose frames would keep the key alive).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ._logging import redact

__all__ = ["MaskedError", "masked"]

#: Request headers dropped from a masked copy: they carry credentials.
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "proxy-authorization"})
_MAX_BODY = 4096


class MaskedError(Exception):
    """Stands for a caught exception that could not be copied: its type's name and redacted message."""


def _request(request: httpx.Request) -> httpx.Request:
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SECRET_HEADERS]
    return httpx.Request(request.method, request.url, headers=headers)


def _response(response: httpx.Response, request: httpx.Request) -> httpx.Response:
    try:
        content = response.content[:_MAX_BODY]
    except httpx.ResponseNotRead:
        content = b""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "set-cookie"]
    # The body is already decoded: drop the encoding headers that would make httpx decode it again.
    headers = [(k, v) for k, v in headers if k.lower() not in ("content-encoding", "content-length")]
    return httpx.Response(response.status_code, headers=headers, content=content, request=request)


def _request_of(error: BaseException) -> httpx.Request | None:
    try:
        request = getattr(error, "request", None)  # httpx raises RuntimeError when there is none
    except RuntimeError:
        return None
    return request if isinstance(request, httpx.Request) else None


def _copy(error: BaseException, message: str) -> BaseException:
    """A copy of `error` without secrets (raises TypeError/ValueError when its type cannot be rebuilt)."""
    original = _request_of(error)
    request = _request(original) if original is not None else None
    kind: Callable[..., BaseException] = type(error)
    response = getattr(error, "response", None)
    if isinstance(error, httpx.HTTPStatusError):
        if not isinstance(response, httpx.Response) or request is None:
            raise TypeError("a status error without its response")
        safe = _response(response, request)
        if type(error) is not httpx.HTTPStatusError and hasattr(error, "body"):
            try:  # langgraph-sdk's status errors: (message, *, response, body)
                return kind(message, response=safe, body=getattr(error, "body", None))
            except TypeError:
                pass
        return httpx.HTTPStatusError(message, request=request, response=safe)
    if isinstance(error, httpx.RequestError):
        return kind(message, request=request)
    if isinstance(error, httpx.HTTPError) or not (hasattr(error, "request") or hasattr(error, "response")):
        return kind(message)
    raise TypeError("an exception holding a request is not copied blindly")


def masked(error: BaseException, *, depth: int = 3) -> BaseException:
    """A copy of `error` that is safe to keep (and to show in a traceback): see the module's docstring.

    Its own cause is masked the same way, `depth` levels down.
    """
    message = redact(str(error))
    try:
        copy = _copy(error, message)
    except Exception:  # a type we cannot build again: keep its name and message
        copy = MaskedError(f"{type(error).__module__}.{type(error).__qualname__}: {message}")
    inner = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if inner is not None and depth > 0:
        copy.__cause__ = masked(inner, depth=depth - 1)
    return copy
