"""The transport's I/O loop: send with retries and same-origin redirects; answers become ours.

Everything that does no I/O (building requests, redirect and error rules, JSON answers, log lines) is in
`lmsystems/_transport.py` and `lmsystems/_http_log.py`; reading an event stream's body is the streaming
layer's (`_events.py`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from .. import _retry
from .._cause import masked
from .._exceptions import ConflictError
from .._http_log import log_answer, log_failure
from .._requests import Endpoint, RequestSpec
from .._tracing import Tracing
from .._transport import (
    DEFAULT_LIMITS,
    MAX_REDIRECTS,
    build_request,
    closed_client_error,
    is_event_stream,
    not_an_event_stream,
    parse_json_response,
    redirect_target,
    request_error,
    status_error,
    too_many_redirects,
    was_sent,
)
from ._io import sleep

__all__ = ["MAX_REDIRECTS", "AsyncHTTP"]


class AsyncHTTP:
    """Sends RequestSpecs to endpoints with one pooled httpx client."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        max_retries: int,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "lmsystems-python",
        tracing: Tracing | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.timeout = timeout
        self.tracing = tracing or Tracing()
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

    async def _send(
        self,
        endpoint: Endpoint,
        spec: RequestSpec,
        *,
        stream: bool,
        conflict: type[ConflictError],
        timeout: httpx.Timeout | None,
        max_retries: int | None,
    ) -> httpx.Response:
        """Send with retries; a non-2xx answer becomes our exception (its body read and the stream closed)."""
        if self._client.is_closed:
            raise closed_client_error(spec)
        retries = self.max_retries if max_retries is None else max_retries
        attempt = redirects = 0
        url: httpx.URL | None = None
        while True:
            request = build_request(self._client, endpoint, spec, timeout or self.timeout, url)
            started = time.monotonic()
            with self.tracing.request(
                service=endpoint.service,
                method=spec.method,
                url=request.url,
                operation=spec.operation,
                carrier=request.headers,
                attempt=attempt + redirects,
            ) as trace:
                try:
                    response = await self._client.send(request, stream=stream)
                except httpx.HTTPError as error:
                    delay = _retry.delay_for_error(
                        attempt, retries, idempotent=spec.idempotent, sent=was_sent(error)
                    )
                    lost = request_error(error, endpoint, spec)
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
                        return response
                    try:
                        content = await response.aread()
                    except httpx.HTTPError as error:
                        broken = request_error(error, endpoint, spec)
                        log_failure(
                            endpoint,
                            spec,
                            broken,
                            started=started,
                            attempt=attempt,
                            retries=retries,
                            delay=None,
                        )
                        raise broken from masked(error)
                    finally:
                        await response.aclose()
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
                    failure = status_error(endpoint, spec, response, content, conflict)
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
        conflict: type[ConflictError] = ConflictError,
        timeout: httpx.Timeout | None = None,
        max_retries: int | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open an event stream; the connection is released when the block is left, however it is left."""
        response = await self._send(
            endpoint, spec, stream=True, conflict=conflict, timeout=timeout, max_retries=max_retries
        )
        try:
            if not is_event_stream(response):
                raise not_an_event_stream(endpoint, spec, response, await response.aread())
            yield response
        finally:
            await response.aclose()
