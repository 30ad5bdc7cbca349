"""lmsystems 1.0.8's module path for the exceptions: `from lmsystems.exceptions import APIError` works.

The same classes as `lmsystems` exports (see `lmsystems._exceptions` for the tree).
"""

from __future__ import annotations

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIKeyError,
    APIKeyRejectedError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GraphError,
    GraphNotFoundError,
    GraphNotPurchasedError,
    InputError,
    InternalServerError,
    LmsystemsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RunError,
    StreamError,
    ThreadBusyError,
    UnauthorizedError,
    UnprocessableEntityError,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIKeyError",
    "APIKeyRejectedError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "GraphError",
    "GraphNotFoundError",
    "GraphNotPurchasedError",
    "InputError",
    "InternalServerError",
    "LmsystemsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RunError",
    "StreamError",
    "ThreadBusyError",
    "UnauthorizedError",
    "UnprocessableEntityError",
]
