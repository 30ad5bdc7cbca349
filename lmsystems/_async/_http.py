"""The transport's I/O loop: send with retries and same-origin redirects; answers become ours.

Everything that does no I/O (building requests, redirect and error rules, JSON answers, log lines) is in
`lmsystems/_transport.py` and `lmsystems/_http_log.py`; reading an event stream's body is the streaming
layer's (`_events.py`).
"""

from __future__ import annotations

import copy
import time
import weakref
import zlib
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx

from .. import _retry
from .._attempt_clock import attempt_until
from .._body_cap import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_BYTES, ERROR_BODY_BYTES, BodyCap
from .._cause import masked
from .._exceptions import ConflictError
from .._http_log import log_answer, log_failure
from .._requests import Endpoint, RequestSpec
from .._tracing import Tracing
from .._transport import (
    DEFAULT_LIMITS,
    MAX_REDIRECTS,
    attempt_ends,
    attempt_timeout_error,
    body_error,
    body_too_large,
    build_request,
    closed_client_error,
    cut_reads,
    is_event_stream,
    not_an_event_stream,
    other_loop_error,
    parse_json_answer,
    ran_out,
    redirect_target,
    request_error,
    status_error,
    too_many_redirects,
    was_sent,
)
from ._io import close_shielded, running_loop, sleep, uncancelled, within
from ._network import AsyncBoundedTransport, proxy_mounts

__all__ = ["MAX_REDIRECTS", "AsyncHTTP"]


class AsyncHTTP:
    """Sends RequestSpecs to endpoints with one pooled httpx client.

    Its transport is the client's own (`AsyncBoundedTransport`: each attempt's connects, writes and
    reads end with the attempt), unless one is given; the environment's proxies are mounted as httpx
    mounts them (`proxy_mounts`: HTTP(S) proxies through the client's own transport too).
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        max_retries: int,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "lmsystems-python",
        tracing: Tracing | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.max_retries = max_retries
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.tracing = tracing or Tracing()
        self._owns_client = True
        #: The event loop of the pool's connections (a weak reference, shared with derived transports).
        self._loop: list[weakref.ref[object]] = []
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=DEFAULT_LIMITS,
            follow_redirects=False,
            transport=transport if transport is not None else AsyncBoundedTransport(limits=DEFAULT_LIMITS),
            mounts=proxy_mounts(DEFAULT_LIMITS) if transport is None else None,
            headers={"user-agent": user_agent, "accept-encoding": ACCEPT_ENCODING},
        )

    def derive(self, *, timeout: httpx.Timeout, max_retries: int) -> AsyncHTTP:
        """The same connection pool with other defaults (closing the derived one closes nothing)."""
        derived = copy.copy(self)
        derived.timeout, derived.max_retries, derived._owns_client = timeout, max_retries, False
        return derived

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _send(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        *,
        stream: bool,
        conflict: type[ConflictError],
        timeout: httpx.Timeout | None,
        max_retries: int | None,
        ends: float | None = None,
    ) -> tuple[httpx.Response, bytes | bytearray]:
        """Send with retries; a non-2xx answer becomes our exception (its body read and the stream closed).

        Returns the answer and its body (capped, see `_body_cap`); for `stream=True`, the open answer
        (its body unread). Each attempt as a whole ends by `attempt_ends` (the `timeout` in seconds, and
        `ends`, a `time.monotonic()` instant: the head of a stream by its deadline).
        """
        if self._client.is_closed:
            raise closed_client_error(spec)
        self._check_loop(spec)
        retries = self.max_retries if max_retries is None else max_retries
        timeout = timeout or self.timeout
        attempt = redirects = 0
        url: httpx.URL | None = None
        while True:
            started = time.monotonic()
            until = attempt_ends(timeout, started, ends)
            request = build_request(self._client, endpoint, spec, cut_reads(timeout, until, started), url)
            with self.tracing.request(
                service=endpoint.service,
                method=spec.method,
                url=request.url,
                operation=spec.operation,
                carrier=request.headers,
                attempt=attempt + redirects,
            ) as trace:
                try:
                    response, content = await self._attempt(
                        endpoint, spec, request, stream=stream, started=started, until=until
                    )
                except (httpx.HTTPError, TimeoutError) as error:
                    delay = _retry.delay_for_error(
                        attempt, retries, idempotent=spec.idempotent, sent=was_sent(error)
                    )
                    lost = (
                        attempt_timeout_error(endpoint, spec, timeout, started, ends)
                        if ran_out(error, until, time.monotonic())
                        else request_error(cast("httpx.HTTPError", error), endpoint, spec)
                    )
                    log_failure(
                        endpoint, spec, lost, started=started, attempt=attempt, retries=retries, delay=delay
                    )
                    if delay is None:
                        raise lost from masked(error)
                    trace.retrying(lost)
                else:
                    trace.answered(response.status_code)
                    if response.status_code < 300:
                        log_answer(endpoint, spec, response, started=started, attempt=attempt)
                        return response, content
                    target = redirect_target(endpoint, spec, response)
                    if target is not None:
                        log_answer(endpoint, spec, response, started=started, attempt=attempt)
                        if redirects >= MAX_REDIRECTS:
                            raise too_many_redirects(endpoint, spec, response, target)
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
                    failure = status_error(endpoint, spec, response, bytes(content), conflict)
                    log_failure(
                        endpoint,
                        spec,
                        failure,
                        started=started,
                        attempt=attempt,
                        retries=retries,
                        delay=delay,
                    )
                    if delay is None:
                        raise failure
                    trace.retrying(failure)
            await sleep(delay)  # between two attempts: in neither's span
            attempt += 1

    def _check_loop(self, spec: RequestSpec) -> None:
        """Refuse, before sending, a request from another event loop than the pool's first one: its
        connections belong to that loop (httpx would fail with `RuntimeError: Event loop is closed`)."""
        loop = running_loop()
        if loop is None:
            return
        if not self._loop:
            self._loop.append(weakref.ref(loop))
        elif self._loop[0]() is not loop:
            raise other_loop_error(spec)

    async def _attempt(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        request: httpx.Request,
        *,
        stream: bool,
        started: float,
        until: float | None,
    ) -> tuple[httpx.Response, bytes | bytearray]:
        """One attempt: the answer and, unless it is a stream's 2xx (returned open), its body, capped
        (the answer then closed). Raises httpx's errors, or TimeoutError once the attempt passed `until`:
        the network waits for nothing past it (`attempt_until`), and the async client also cancels."""
        response: httpx.Response | None = None
        keep = False
        try:
            with attempt_until(until):
                async with within(None if until is None else until - started):
                    response = await uncancelled(
                        self._client.send(request, stream=True), abandoned=close_shielded
                    )
                    if stream and response.status_code < 300:
                        keep = True
                        return response, b""
                    error_body = response.status_code >= 300
                    content = await read_capped(
                        response,
                        endpoint,
                        spec,
                        limit=ERROR_BODY_BYTES if error_body else self.max_response_bytes,
                        refuse=not error_body,
                        until=until,
                    )
            return response, content
        finally:
            if response is not None and not keep:
                await close_shielded(response)

    async def request(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        *,
        conflict: type[ConflictError] = ConflictError,
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
        conflict: type[ConflictError] = ConflictError,
        timeout: httpx.Timeout | None = None,
        max_retries: int | None = None,
    ) -> tuple[Any, httpx.Headers]:
        """Send a request and return its JSON answer with the answer's headers."""
        response, content = await self._send(
            endpoint, spec, stream=False, conflict=conflict, timeout=timeout, max_retries=max_retries
        )
        return parse_json_answer(endpoint, spec, response, content), response.headers

    @asynccontextmanager
    async def stream(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        *,
        conflict: type[ConflictError] = ConflictError,
        timeout: httpx.Timeout | None = None,
        max_retries: int | None = None,
        ends: float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open an event stream; the connection is released when the block is left, however it is left.

        The head of the answer must arrive within the attempt's timeout and by `ends` (the stream's
        deadline, a `time.monotonic()` instant).
        """
        response, _ = await self._send(
            endpoint,
            spec,
            stream=True,
            conflict=conflict,
            timeout=timeout,
            max_retries=max_retries,
            ends=ends,
        )
        try:
            if not is_event_stream(response):
                until = attempt_ends(timeout or self.timeout, time.monotonic(), ends)
                try:
                    with attempt_until(until):
                        async with within(None if until is None else until - time.monotonic()):
                            body = await read_capped(
                                response, endpoint, spec, limit=ERROR_BODY_BYTES, refuse=False, until=until
                            )
                except httpx.HTTPError:
                    body = b""
                except TimeoutError:
                    body = b""
                raise not_an_event_stream(endpoint, spec, response, bytes(body))
            yield response
        finally:
            await close_shielded(response)


async def read_capped(
    response: httpx.Response,
    endpoint: Endpoint,
    spec: RequestSpec,
    *,
    limit: int,
    refuse: bool,
    until: float | None,
) -> bytes | bytearray:
    """The body of an open answer, decoded, at most `limit` bytes; over it, an APIResponseError when
    `refuse`, else the body's beginning (the rest is not read). A read that ends after `until` (a
    `time.monotonic()` instant) raises TimeoutError: a server cannot trickle its body past the timeout."""
    try:  # a transport that built its answer in memory (httpx.MockTransport, tests) has read it
        content = response.content
    except httpx.ResponseNotRead:
        pass
    else:
        if len(content) > limit:
            if refuse:
                raise body_too_large(endpoint, spec, response, limit)
            return content[:limit]
        return content
    length = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding")
    try:
        cap = BodyCap(encoding, limit)
    except ValueError as error:
        raise body_error(endpoint, spec, response, str(error)) from None
    if refuse and encoding is None and length.isdigit() and int(length) > limit:
        raise body_too_large(endpoint, spec, response, limit)
    try:
        # The raw stream itself: httpx's iterators close the answer at its end, where a cancellation
        # would strand the connection (see close_shielded); the caller closes it instead.
        async for data in cast("AsyncIterable[bytes]", response.stream):
            if not cap.feed(data):
                if refuse:
                    raise body_too_large(endpoint, spec, response, limit)
                break
            if until is not None and time.monotonic() > until:
                raise TimeoutError
    except zlib.error as error:
        raise body_error(endpoint, spec, response, f"a corrupt compressed body ({error})") from None
    return cap.buffer
