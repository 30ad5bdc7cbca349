"""The rules of one HTTP exchange, without I/O: shared by the async and the sync transport.

Building the request, which failures may have reached the server, where a redirect may be followed,
which answers are errors and how a JSON answer is read. `lmsystems/_async/_http.py` (and its sync twin)
only add the loop that sends, waits and retries.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._errors import decode_body, describe, error_from_response, transport_error
from ._exceptions import APIConnectionError, APIError, APIResponseError, APIStatusError, ConflictError
from ._json import loads
from ._requests import Endpoint, RequestSpec

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


def was_sent(error: httpx.HTTPError) -> bool:
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
            f"({target.scheme}://{target.host}); refusing to send credentials there",
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id"),
        )
    if response.status_code in (307, 308) or spec.method in ("GET", "HEAD"):
        return target
    return None


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


def parse_json_response(endpoint: Endpoint, spec: RequestSpec, response: httpx.Response) -> Any:
    """The JSON of a 2xx answer (None when it has no body); an APIResponseError when it is not JSON."""
    content = response.content
    if response.status_code == 204 or not content:
        return None
    try:
        return loads(content)
    except ValueError:
        shown = describe(content, decode_body(content, response.headers.get("content-type")))
        raise APIResponseError(
            f"{endpoint.service} answered {response.status_code} to {spec.method} {spec.path} with a body "
            f"that is not JSON: {shown}",
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
