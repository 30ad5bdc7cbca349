"""The rules of one HTTP exchange, without I/O: shared by the async and the sync transport.

Building the request, which failures may have reached the server, where a redirect may be followed,
which answers are errors and how a JSON answer is read. `lmsystems/_async/_http.py` (and its sync twin)
only add the loop that sends, waits and retries.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._body_cap import human_bytes
from ._errors import decode_body, describe, error_from_response, transport_error
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    ConflictError,
)
from ._json import TooDeepError, loads
from ._requests import Endpoint, RequestSpec
from ._settings import CallTimeout

DEFAULT_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=100, keepalive_expiry=30.0)
MAX_REDIRECTS = 5
EVENT_STREAM = "text/event-stream"


def build_request(
    client: httpx.AsyncClient | httpx.Client,
    endpoint: Endpoint,
    spec: RequestSpec,
    timeout: httpx.Timeout,
    url: httpx.URL | None = None,
) -> httpx.Request:
    """The httpx request for `spec` at `endpoint` (or at `url`, a redirect's target, without the query)."""
    return client.build_request(
        spec.method,
        url if url is not None else endpoint.base_url + spec.path,
        params=None if url is not None else spec.params or None,
        headers={**endpoint.headers, **spec.headers},
        content=spec.content,
        extensions={"timeout": timeout.as_dict()},
    )


def request_error(error: httpx.HTTPError, endpoint: Endpoint, spec: RequestSpec) -> APIError:
    """Our exception for an httpx failure of `spec` (never leak httpx's own)."""
    return transport_error(
        error, f"during {spec.method} {spec.path} to {endpoint.service} at {endpoint.base_url}"
    )


def was_sent(error: BaseException) -> bool:
    """Whether the server may have acted on the request.

    Not when no connection was made (connect failure, pool timeout), nor when writing the request failed:
    the server then has at most a part of it, and acts on none (the Agent Server reads a request's whole
    body before it acts). Any later failure (no answer, a connection closed before the answer) may have
    come after the server acted.
    """
    return not isinstance(
        error,
        httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.WriteError | httpx.WriteTimeout,
    )


def other_loop_error(spec: RequestSpec) -> APIConnectionError:
    """The error for an async client used from another event loop than the one it first ran in."""
    return APIConnectionError(
        f"{spec.method} {spec.path} was not sent: this client's connections belong to the event loop it "
        "was first used in (e.g. an earlier asyncio.run()). Create the client inside the event loop that "
        "uses it (one client per loop), or use SyncLmsystemsClient"
    )


def attempt_ends(timeout: httpx.Timeout, started: float, ends: float | None) -> float | None:
    """When an attempt started at `started` must be over: `timeout=<seconds>` bounds each attempt as a
    whole (a CallTimeout), and `ends` (a stream's deadline) too; None: only httpx's per-phase limits."""
    total = timeout.total if isinstance(timeout, CallTimeout) else None
    until = None if total is None else started + total
    if ends is not None:
        until = ends if until is None else min(until, ends)
    return until


def ran_out(error: BaseException, until: float | None, now: float) -> bool:
    """Whether a failure is the attempt running out of time as a whole: the async client's own bound
    (TimeoutError), or one of httpx's timeouts at or past the attempt's end `until` (each connect, write
    and read waits at most what is left of the attempt, so its timeout is the attempt's)."""
    if isinstance(error, TimeoutError):
        return True
    return until is not None and now >= until and isinstance(error, httpx.TimeoutException)


def cut_reads(timeout: httpx.Timeout, until: float | None, now: float) -> httpx.Timeout:
    """`timeout` with every phase cut to what is left before `until`."""
    if until is None:
        return timeout
    left = max(until - now, 0.001)

    def cut(value: float | None) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(
        connect=cut(timeout.connect), read=cut(timeout.read), write=cut(timeout.write), pool=cut(timeout.pool)
    )


def attempt_timeout_error(
    endpoint: Endpoint, spec: RequestSpec, timeout: httpx.Timeout, started: float, ends: float | None
) -> APITimeoutError:
    """The error for an attempt that ran out of time as a whole (a trickling server, a stuck head)."""
    total = timeout.total if isinstance(timeout, CallTimeout) else None
    what = f"its timeout of {total:g} s" if total is not None else "the stream's deadline"
    if total is not None and ends is not None and ends < started + total:
        what = "the stream's deadline"
    return APITimeoutError(
        f"timed out: {spec.method} {spec.path} to {endpoint.service} at {endpoint.base_url} took longer "
        f"than {what}",
        final=what == "the stream's deadline",
    )


def body_error(
    endpoint: Endpoint, spec: RequestSpec, response: httpx.Response, what: str
) -> APIResponseError:
    """The error for an answer whose body cannot be read as sent."""
    return APIResponseError(
        f"{endpoint.service} answered {response.status_code} to {spec.method} {spec.path} with {what}",
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
    )


def body_too_large(
    endpoint: Endpoint, spec: RequestSpec, response: httpx.Response, limit: int
) -> APIResponseError:
    """The error for an answer larger than the cap (`max_response_bytes`), decoded; not read further."""
    return body_error(
        endpoint,
        spec,
        response,
        f"a body larger than {human_bytes(limit)} (max_response_bytes), decoded; it was not read further",
    )


def closed_client_error(spec: RequestSpec) -> APIError:
    """The error for a request on a client that was closed (nothing is sent)."""
    return APIConnectionError(
        f"this client was closed: {spec.method} {spec.path} was not sent (create a new client)"
    )


def redirect_target(endpoint: Endpoint, spec: RequestSpec, response: httpx.Response) -> httpx.URL | None:
    """Where a 3xx answer may be followed to: same origin only, and only when that keeps the method.

    httpx would forward `x-api-key` to another origin (it drops only `Authorization`), so a redirect to
    another origin is refused before anything is sent there.
    """
    location = response.headers.get("location")
    if not location or response.status_code not in (301, 302, 303, 307, 308):
        return None
    target = response.request.url.join(location)
    origin = response.request.url
    if (target.scheme, target.host, target.port) != (origin.scheme, origin.host, origin.port):
        raise APIStatusError(
            f"{endpoint.service} redirected {spec.method} {spec.path} to another origin "
            f"({_origin(target)}); refusing to send credentials there",
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id"),
        )
    if response.status_code in (307, 308) or spec.method in ("GET", "HEAD"):
        return target
    return None


def _origin(url: httpx.URL) -> str:
    """`scheme://host:port`, the port always shown (an origin differs by its port too)."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}:{port}" if port is not None else f"{url.scheme}://{host}"


def too_many_redirects(
    endpoint: Endpoint, spec: RequestSpec, response: httpx.Response, target: httpx.URL
) -> APIStatusError:
    """The error once a request was redirected more than MAX_REDIRECTS times."""
    return APIStatusError(
        f"{endpoint.service} redirected {spec.method} {spec.path} more than {MAX_REDIRECTS} "
        f"times (last to {target.path})",
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
    )


def status_error(
    endpoint: Endpoint,
    spec: RequestSpec,
    response: httpx.Response,
    content: bytes,
    conflict: type[ConflictError],
) -> APIStatusError:
    """Our exception for a non-2xx answer whose body was read."""
    return error_from_response(
        service=endpoint.service,
        method=spec.method,
        path=spec.path,
        status_code=response.status_code,
        reason=response.reason_phrase,
        headers=response.headers,
        content=content,
        conflict=conflict,
    )


def parse_json_answer(
    endpoint: Endpoint, spec: RequestSpec, response: httpx.Response, content: bytes | bytearray
) -> Any:
    """The JSON of a 2xx answer's body (None when it has none); an APIResponseError when it is not JSON."""
    if response.status_code == 204 or not content:
        return None
    try:
        return loads(content)
    except ValueError as error:
        head = bytes(content[:4096])
        shown = describe(head, decode_body(head, response.headers.get("content-type")))
        reason = " (nested too deeply)" if isinstance(error, TooDeepError) else ""
        raise APIResponseError(
            f"{endpoint.service} answered {response.status_code} to {spec.method} {spec.path} with a body "
            f"that is not JSON{reason}: {shown}",
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from None


def is_event_stream(response: httpx.Response) -> bool:
    """Whether a 2xx answer is the event stream asked for."""
    return str(response.headers.get("content-type", "")).startswith(EVENT_STREAM)


def not_an_event_stream(
    endpoint: Endpoint, spec: RequestSpec, response: httpx.Response, body: bytes
) -> APIResponseError:
    """The error for a 2xx answer to a stream request that is not an event stream (its body read)."""
    content_type = response.headers.get("content-type", "")
    return APIResponseError(
        f"{endpoint.service} answered {spec.method} {spec.path} with "
        f"{content_type or 'no content type'}"
        f" instead of an event stream: {describe(body, decode_body(body, content_type))}",
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
    )
