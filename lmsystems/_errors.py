"""Turn an HTTP answer, or an httpx failure, into one of our exceptions: pure, shared by sync and async."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIKeyRejectedError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    GraphNotFoundError,
    GraphNotPurchasedError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from ._json import loads
from ._logging import redact

MAX_DETAIL = 300

MARKETPLACE_CODES: dict[str, type[APIStatusError]] = {
    "missing_api_key": APIKeyRejectedError,
    "invalid_api_key": APIKeyRejectedError,
    "missing_graph_name": BadRequestError,
    "invalid_graph_name": BadRequestError,
    "graph_not_found": GraphNotFoundError,
    "graph_not_purchased": GraphNotPurchasedError,
}

#: The error of each status (other statuses: InternalServerError for 5xx, else APIStatusError).
STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def decode_body(content: bytes, content_type: str | None) -> Any:
    """The body as JSON when it is JSON, else as (shortened) text; None when empty."""
    if not content:
        return None
    if content_type is None or "json" in content_type or content[:1] in (b"{", b"["):
        try:
            return loads(content)
        except ValueError:  # not JSON, or nested too deeply (see _json): kept as text
            pass
    return content[:4096].decode("utf-8", errors="replace")


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (RecursionError, ValueError):
        return "a JSON value nested too deeply to show"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def describe(content: bytes, body: Any) -> str:
    """A short, readable account of an error body, whatever shape it has."""
    if body is None:
        return "an empty body"
    if isinstance(body, Mapping):
        detail = body.get("detail", body.get("message", body.get("error")))
        if isinstance(detail, Mapping) and "message" in detail:
            shown = detail["message"]
            return _shorten(shown if isinstance(shown, str) else _dumps(shown))
        if detail is not None:
            return _shorten(detail if isinstance(detail, str) else _dumps(detail))
        return _shorten(_dumps(body))
    if isinstance(body, str):
        title = _TITLE.search(content[:65536])
        if title:
            return "an HTML page: " + _shorten(_TAGS.sub("", title.group(1).decode("utf-8", "replace")))
        if body.lstrip().startswith("<"):
            return "an HTML page: " + _shorten(_TAGS.sub(" ", body))
        return _shorten(body)
    return _shorten(_dumps(body))


def error_from_response(
    *,
    service: str,
    method: str,
    path: str,
    status_code: int,
    reason: str,
    headers: Mapping[str, str],
    content: bytes,
    conflict: type[ConflictError] = ConflictError,
) -> APIStatusError:
    """The exception for a non-2xx answer of `service` ("agent server" or "marketplace")."""
    body = decode_body(content, headers.get("content-type"))
    request_id = headers.get("x-request-id") or headers.get("request-id")
    detail = describe(content, body)
    message = f"{service} answered {status_code} {reason} to {method} {path}: {detail}"
    kind: type[APIStatusError]
    code = _marketplace_code(body) if service == "marketplace" else None
    if code in MARKETPLACE_CODES:
        kind = MARKETPLACE_CODES[code]
        message = f"{service}: {detail} ({code})"
    elif status_code == 409:
        kind = conflict
    elif status_code in STATUS_ERRORS:
        kind = STATUS_ERRORS[status_code]
    elif status_code >= 500:
        kind = InternalServerError
    else:
        kind = APIStatusError
    return kind(message, status_code=status_code, request_id=request_id, body=body)


def transport_error(error: httpx.HTTPError, where: str) -> APIError:
    """Our exception for an httpx failure `where` ("during GET /x to ..."): httpx's own never leaks."""
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"timed out ({type(error).__name__}) {where}")
    if isinstance(error, httpx.TransportError):
        return APIConnectionError(f"connection failed ({type(error).__name__}: {redact(error)}) {where}")
    return APIError(f"request failed ({type(error).__name__}: {redact(error)}) {where}")


def _marketplace_code(body: Any) -> str | None:
    if isinstance(body, Mapping):
        detail = body.get("detail")
        if isinstance(detail, Mapping) and isinstance(detail.get("error"), str):
            return str(detail["error"])
    return None
