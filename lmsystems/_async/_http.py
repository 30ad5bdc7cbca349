"""The transport: one httpx client per facade, retries, and every failure mapped into our exceptions."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from .. import _retry
from .._body import READ_SIZE, RawBody, hand_back, raw_read_error, take_over
from .._errors import decode_body, describe, error_from_response
from .._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    ConflictError,
    LmsystemsError,
    StreamError,
)
from .._json import loads
from .._logging import redact
from .._requests import Endpoint, RequestSpec
from .._sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecodeError, SSEDecoder, SSETruncatedError
from ._io import sleep

logger = logging.getLogger("lmsystems")

DEFAULT_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=100, keepalive_expiry=30.0)
MAX_REDIRECTS = 5


def transport_error(error: httpx.HTTPError, endpoint: Endpoint, spec: RequestSpec) -> APIError:
    """Our exception for an httpx failure (never leak httpx's own)."""
    where = f"{spec.method} {spec.path} to {endpoint.service} at {endpoint.base_url}"
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"timed out ({type(error).__name__}) during {where}")
    if isinstance(error, httpx.TransportError):
        return APIConnectionError(
            f"connection failed ({type(error).__name__}: {redact(error)}) during {where}"
        )
    return APIError(f"request failed ({type(error).__name__}: {redact(error)}) during {where}")


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


def _sent(error: httpx.HTTPError) -> bool:
    """Whether the request may have reached the server (a connect failure or pool timeout means not)."""
    return not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


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


def _log_answer(
    endpoint: Endpoint, spec: RequestSpec, response: httpx.Response, *, started: float, attempt: int
) -> None:
    """DEBUG: one line per answer (a stream's once its headers arrived)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s %s %s -> %d in %.0f ms (request id %s, attempt %d)",
            endpoint.service,
            spec.method,
            spec.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
            response.headers.get("x-request-id") or "-",
            attempt + 1,
        )


def _log_failure(
    endpoint: Endpoint,
    spec: RequestSpec,
    error: LmsystemsError,
    *,
    started: float,
    attempt: int,
    retries: int,
    delay: float | None,
) -> None:
    """INFO: a failed attempt, with the request id, and whether it is retried."""
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "%s %s %s failed in %.0f ms (request id %s, attempt %d of %d); %s: %s",
            endpoint.service,
            spec.method,
            spec.path,
            (time.monotonic() - started) * 1000,
            error.request_id or "-",
            attempt + 1,
            retries + 1,
            f"retrying in {delay:.2f}s" if delay is not None else "giving up",
            error.message,
        )


class AsyncHTTP:
    """Sends RequestSpecs to endpoints with one pooled httpx client."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        max_retries: int,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "lmsystems-python",
    ) -> None:
        self.max_retries = max_retries
        self.timeout = timeout
        self._owns_client = True
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=DEFAULT_LIMITS,
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": user_agent},
        )

    def derive(self, *, timeout: httpx.Timeout, max_retries: int) -> AsyncHTTP:
        """The same connection pool with other defaults (closing the derived one closes nothing)."""
        derived = copy.copy(self)
        derived.timeout, derived.max_retries, derived._owns_client = timeout, max_retries, False
        return derived

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _build(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        timeout: httpx.Timeout | None,
        url: httpx.URL | None = None,
    ) -> httpx.Request:
        headers = {**endpoint.headers, **spec.headers}
        extensions = {"timeout": (timeout or self.timeout).as_dict()}
        return self._client.build_request(
            spec.method,
            url if url is not None else endpoint.base_url + spec.path,
            params=None if url is not None else spec.params or None,
            headers=headers,
            content=spec.content,
            extensions=extensions,
        )

    async def _send(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        *,
        stream: bool,
        conflict: type[LmsystemsError],
        timeout: httpx.Timeout | None,
        max_retries: int | None,
    ) -> httpx.Response:
        """Send with retries; a non-2xx answer becomes our exception (its body read and the stream closed)."""
        if self._client.is_closed:
            raise APIConnectionError(
                f"this client was closed: {spec.method} {spec.path} was not sent (create a new client)"
            )
        retries = self.max_retries if max_retries is None else max_retries
        attempt = redirects = 0
        url: httpx.URL | None = None
        while True:
            request = self._build(endpoint, spec, timeout, url)
            started = time.monotonic()
            try:
                response = await self._client.send(request, stream=stream)
            except httpx.HTTPError as error:
                delay = _retry.delay_for_error(
                    attempt, retries, idempotent=spec.idempotent, sent=_sent(error)
                )
                lost = transport_error(error, endpoint, spec)
                _log_failure(
                    endpoint, spec, lost, started=started, attempt=attempt, retries=retries, delay=delay
                )
                if delay is None:
                    raise lost from None
                await sleep(delay)
                attempt += 1
                continue
            if response.status_code < 300:
                _log_answer(endpoint, spec, response, started=started, attempt=attempt)
                return response
            try:
                content = await response.aread()
            except httpx.HTTPError as error:
                broken = transport_error(error, endpoint, spec)
                _log_failure(
                    endpoint, spec, broken, started=started, attempt=attempt, retries=retries, delay=None
                )
                raise broken from None
            finally:
                await response.aclose()
            target = redirect_target(endpoint, spec, response)
            if target is not None:
                _log_answer(endpoint, spec, response, started=started, attempt=attempt)
                if redirects >= MAX_REDIRECTS:
                    raise APIStatusError(
                        f"{endpoint.service} redirected {spec.method} {spec.path} more than {MAX_REDIRECTS} "
                        f"times (last to {target.path})",
                        status_code=response.status_code,
                        request_id=response.headers.get("x-request-id"),
                    )
                redirects += 1
                url = target
                continue
            delay = _retry.delay_for_status(
                attempt,
                retries,
                idempotent=spec.idempotent,
                status_code=response.status_code,
                headers=response.headers,
            )
            failure = error_from_response(
                service=endpoint.service,
                method=spec.method,
                path=spec.path,
                status_code=response.status_code,
                reason=response.reason_phrase,
                headers=response.headers,
                content=content,
                conflict=conflict,
            )
            _log_failure(
                endpoint, spec, failure, started=started, attempt=attempt, retries=retries, delay=delay
            )
            if delay is None:
                raise failure
            await sleep(delay)
            attempt += 1

    async def request(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        *,
        conflict: type[LmsystemsError] = ConflictError,
        timeout: httpx.Timeout | None = None,
        max_retries: int | None = None,
    ) -> Any:
        """Send a request and return its JSON answer (None for an empty one)."""
        answer, _ = await self.request_with_headers(
            endpoint, spec, conflict=conflict, timeout=timeout, max_retries=max_retries
        )
        return answer

    async def request_with_headers(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        *,
        conflict: type[LmsystemsError] = ConflictError,
        timeout: httpx.Timeout | None = None,
        max_retries: int | None = None,
    ) -> tuple[Any, httpx.Headers]:
        """Send a request and return its JSON answer with the answer's headers."""
        response = await self._send(
            endpoint, spec, stream=False, conflict=conflict, timeout=timeout, max_retries=max_retries
        )
        return parse_json_response(endpoint, spec, response), response.headers

    @asynccontextmanager
    async def stream(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        *,
        conflict: type[LmsystemsError] = ConflictError,
        timeout: httpx.Timeout | None = None,
        max_retries: int | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open an event stream; the connection is released when the block is left, however it is left."""
        response = await self._send(
            endpoint, spec, stream=True, conflict=conflict, timeout=timeout, max_retries=max_retries
        )
        try:
            content_type = response.headers.get("content-type", "")
            if not content_type.startswith("text/event-stream"):
                body = await response.aread()
                raise APIResponseError(
                    f"{endpoint.service} answered {spec.method} {spec.path} with "
                    f"{content_type or 'no content type'}"
                    f" instead of an event stream: {describe(body, decode_body(body, content_type))}",
                    status_code=response.status_code,
                    request_id=response.headers.get("x-request-id"),
                )
            yield response
        finally:
            await response.aclose()

    async def events(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        response: httpx.Response,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        idle_timeout: float | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[list[ServerSentEvent]]:
        """The server-sent events of an open stream, in batches (those one read completed); transport and
        decoding failures become our exceptions.

        `idle_timeout`: seconds without an event (heartbeat comments do not count) before a final
        APITimeoutError; `deadline`: a `time.monotonic()` instant after which the stream is given up.
        The body is read straight from the connection where that is exact (see `lmsystems._body`).
        """
        decoder = SSEDecoder(max_event_bytes=max_event_bytes)
        where = f"{spec.method} {spec.path}"
        last_event = time.monotonic()
        raw = take_over(response)
        chunks = read_raw_body(raw) if raw is not None else response.aiter_bytes()
        try:
            async for chunk in chunks:
                try:
                    events = decoder.feed(chunk)
                except SSEDecodeError as error:
                    if error.events:
                        yield error.events
                    raise StreamError(f"broken event stream from {where}: {error}") from None
                now = time.monotonic()
                if events:
                    last_event = now
                    yield events
                elif idle_timeout is not None and now - last_event > idle_timeout:
                    raise APITimeoutError(
                        f"no event for {idle_timeout:g} s from {where} (only heartbeats)", final=True
                    )
                if deadline is not None and now > deadline:
                    raise APITimeoutError(f"the stream from {where} passed its deadline", final=True)
        except httpx.HTTPError as error:
            raise transport_error(error, endpoint, spec) from None
        try:
            decoder.end()
        except SSETruncatedError as error:
            raise StreamError(
                f"the stream from {where} ended inside an event: {error}", resumable=True
            ) from None
        except SSEDecodeError as error:
            raise StreamError(f"broken event stream from {where}: {error}") from None


async def read_raw_body(raw: RawBody) -> AsyncIterator[bytes]:
    """The body of a response taken over from httpx, read from its connection in large reads.

    Failures are raised as the httpx exceptions httpx itself would have raised.
    """
    decoder = raw.decoder
    try:
        if raw.buffered:
            body = decoder.feed(raw.buffered)
            if body:
                yield body
        while not decoder.done:
            data = b"" if raw.closed else await raw.network.read(READ_SIZE, timeout=raw.read_timeout)
            if not data:
                decoder.end()
                return
            body = decoder.feed(data)
            if body:
                yield body
        hand_back(raw)
    except Exception as error:
        mapped = raw_read_error(error)
        if mapped is None:
            raise
        raise mapped from None
