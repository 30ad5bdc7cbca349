"""The exception tree: every failure of the SDK is one of these, never a raw httpx error or a bare Exception.

    LmsystemsError
    ├── AuthenticationError          a key the marketplace or the deployment refused
    │   └── APIKeyError              no or a malformed key (before any request; also an InputError)
    ├── GraphError                   the graph, its threads or its runs
    │   ├── GraphNotFoundError       (also a NotFoundError)
    │   ├── GraphNotPurchasedError   (also an APIStatusError, 403)
    │   ├── ThreadBusyError          409: multitask_strategy="reject" on a busy thread (also a ConflictError)
    │   └── RunError                 a run failed (`event: error` in a stream, or a failed status)
    ├── InputError (ValueError)      bad arguments (before any request), or the server's 400/422
    │   └── ArgumentError (TypeError) a keyword the call does not take
    └── APIError                     talking to the API
        ├── APIConnectionError       the connection failed or dropped
        │   └── APITimeoutError (TimeoutError)
        ├── APIResponseError         an answer we cannot use (not JSON, wrong content type, broken stream)
        │   └── StreamError          a broken event stream (truncated, too large, bad UTF-8, resume gave up)
        │       └── StreamGapError   a repaired session stream could not prove it lost or repeated nothing
        └── APIStatusError           every non-2xx answer, whatever else it is:
            ├── BadRequestError          400 (also an InputError)
            ├── UnauthorizedError        401 (also an AuthenticationError)
            ├── APIKeyRejectedError      the marketplace refused the key (also an APIKeyError)
            ├── PermissionDeniedError    403 (also an AuthenticationError)
            ├── NotFoundError            404 ─ GraphNotFoundError
            ├── ConflictError            409 ─ ThreadBusyError
            ├── UnprocessableEntityError 422 (also an InputError)
            ├── RateLimitError           429
            ├── InternalServerError      5xx
            └── GraphNotPurchasedError

Every error that came from an HTTP answer is an `APIStatusError` and carries `status_code`, `request_id`
and `body`; other errors have them None. Keys never show: the message, `request_id` and every string in
`body` are masked (in pickles too), and a message is at most MAX_MESSAGE characters (what a server sent in
full stays on the attributes). The exception we caught (an httpx or langgraph-sdk error) is kept as
`__cause__`, masked: a copy without the request's headers.
"""

from __future__ import annotations

from typing import Any

from ._logging import redact, redact_value

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIKeyError",
    "APIKeyRejectedError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "ArgumentError",
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
    "NothingToResumeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RunError",
    "StreamError",
    "StreamGapError",
    "ThreadBusyError",
    "UnauthorizedError",
    "UnprocessableEntityError",
]

#: The longest message an error carries; a longer one is cut, saying how long it was.
MAX_MESSAGE = 2000


def _capped(message: str, limit: int = MAX_MESSAGE) -> str:
    if len(message) <= limit:
        return message
    return f"{message[: limit - 40]}… ({len(message):,} characters in all)"


class LmsystemsError(Exception):
    """Base of every error the SDK raises."""

    status_code: int | None
    request_id: str | None
    body: Any

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        message = _capped(redact(message))
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = _capped(redact(request_id), 200) if request_id is not None else None
        self.body = redact_value(body)

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id {self.request_id})"
        return self.message


class AuthenticationError(LmsystemsError):
    """The marketplace or the deployment refused the key (401/403)."""


class InputError(LmsystemsError, ValueError):
    """Bad arguments: raised before any request where possible, else for the server's 400/422."""


class APIKeyError(AuthenticationError, InputError):
    """No API key was given anywhere, or it is malformed (raised before any request)."""


class GraphError(LmsystemsError):
    """Something about the graph, its threads or its runs."""


class NothingToResumeError(GraphError):
    """A resume (`client.resume`, or a run with `command={"resume": ...}`) on a thread that waits on no
    interrupt: nothing was sent (the server would have re-run the graph's last step)."""


class RunError(GraphError):
    """A run failed on the server.

    `error_type` is the server's name for the error (e.g. `ValueError`), `error_message` its message in
    full (the exception's own message is capped), `run_id`/`thread_id` say which run.
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        error_message: str | None = None,
        run_id: str | None = None,
        thread_id: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, status_code=status_code, request_id=request_id, body=body)
        self.error_type = error_type
        self.error_message = redact(error_message) if error_message is not None else None
        self.run_id = run_id
        self.thread_id = thread_id


class ArgumentError(InputError, TypeError):
    """A keyword argument the call does not take (also a TypeError, as Python's own would be)."""


class APIError(LmsystemsError):
    """Talking to the API failed."""


class APIConnectionError(APIError):
    """The connection could not be made, or it dropped."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """The request or the stream took longer than its timeout.

    `final` is True for a stream's idle timeout or deadline (the connection was fine: reconnecting would
    not help), False for a connection that went silent.
    """

    def __init__(self, message: str, *, final: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.final = final


class APIResponseError(APIError):
    """The server answered something we cannot use (not JSON, the wrong content type, a missing field)."""


class StreamError(APIResponseError):
    """The event stream was broken: truncated, too large, invalid UTF-8, or it could not be resumed.

    `events_delivered` counts the events the stream had delivered before it failed; `resumable` says
    whether reading the stream again could repair it (a truncated event can; corrupt data cannot).
    """

    def __init__(
        self, message: str, *, events_delivered: int = 0, resumable: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.events_delivered = events_delivered
        self.resumable = resumable


class StreamGapError(StreamError):
    """A thread session's connection was repaired, but the server's replay could not prove that no event was
    missed or repeated (or the server said `resume_gap`). The message names the gap; the session goes on
    (iterate again to continue)."""


class APIStatusError(APIError):
    """The server answered with a non-2xx status: the base of every error that came from an HTTP answer."""


class BadRequestError(InputError, APIStatusError):
    """400: the server refused the request's arguments."""


class UnprocessableEntityError(InputError, APIStatusError):
    """422: the server could not use the request's body (e.g. an unknown assistant)."""


class UnauthorizedError(AuthenticationError, APIStatusError):
    """401: the deployment (or the marketplace) did not accept the key."""


class PermissionDeniedError(AuthenticationError, APIStatusError):
    """403: the key is known but may not do this."""


class APIKeyRejectedError(APIKeyError, APIStatusError):
    """The marketplace answered that the API key is missing or invalid."""


class NotFoundError(APIStatusError):
    """404: the thread, run, assistant, cron or item does not exist."""


class GraphNotFoundError(GraphError, NotFoundError):
    """No graph of that name exists (the marketplace's 404, or none on the deployment)."""


class GraphNotPurchasedError(GraphError, APIStatusError):
    """The graph exists, but this API key's owner has not purchased it (the marketplace's 403)."""


class ConflictError(APIStatusError):
    """409: a conflict other than a busy thread (e.g. creating something that exists)."""


class ThreadBusyError(GraphError, ConflictError):
    """The thread is running another run and the multitask strategy was `reject` (the server's 409)."""


class RateLimitError(APIStatusError):
    """429: too many requests."""


class InternalServerError(APIStatusError):
    """5xx: the server failed."""
