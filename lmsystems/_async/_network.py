"""The client's own httpx transport: httpcore's connection pool over network streams that end with the
attempt, so that `timeout=<seconds>` bounds an answer's whole head and body, in the sync client too.

httpx's own transport takes no network backend, and a blocking read cannot be interrupted from outside;
httpcore's pool takes one (`network_backend=`, public), and every connect, write and read of a request
goes through it with the phase's timeout. `AsyncBoundedBackend` hands out streams that cut each of those
timeouts to what is left of the current attempt (`lmsystems._attempt_clock`) and raise httpcore's
timeout once nothing is left: a head trickled a byte at a time ends with the attempt. Outside an attempt
with an end (a stream's body, read under the stream's own limits), they pass everything through.

`AsyncBoundedTransport` is what httpx's `AsyncHTTPTransport` is for the client's settings (HTTP/1.1,
certificates from the environment, the pool limits), built on public API only; httpcore's exceptions
become httpx's as there. The environment's proxies are mounted as httpx mounts them (`proxy_mounts`).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, cast

import httpcore
import httpx

from .._attempt_clock import as_httpx_errors, cut
from .._httpcore_internals import BODY_EXTENSION
from .._proxies import environment_proxies

__all__ = ["AsyncBoundedBackend", "AsyncBoundedTransport", "proxy_mounts"]

SocketOptions = Iterable[
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
]


class AsyncBoundedStream(httpcore.AsyncNetworkStream):
    """A connection's network stream whose reads and writes end with the current attempt."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, cut(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, cut(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            stream = await self._stream.start_tls(
                ssl_context, server_hostname, cut(timeout, httpcore.ConnectTimeout)
            )
        except ssl.SSLError as error:  # httpcore 1.0.0's AnyIOBackend lets a failed handshake out raw
            raise httpcore.ConnectError(str(error)) from error
        return AsyncBoundedStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class AsyncBoundedBackend(httpcore.AsyncNetworkBackend):
    """A network backend whose connections (and their reads and writes) end with the current attempt."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: SocketOptions | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(
            host, port, cut(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return AsyncBoundedStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: SocketOptions | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(
            path, cut(timeout, httpcore.ConnectTimeout), socket_options
        )
        return AsyncBoundedStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class AsyncBoundedBody(httpx.AsyncByteStream):
    """An answer's body as httpx reads it: httpcore's stream, its failures as httpx's exceptions."""

    def __init__(self, httpcore_stream: AsyncIterable[bytes]) -> None:
        #: httpcore's response stream (the fast stream path finds the connection's h11 state from it, through
        #: the response extension BODY_EXTENSION: `lmsystems/_httpcore_internals.py`).
        self.httpcore_stream = httpcore_stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with as_httpx_errors():
            async for part in self.httpcore_stream:
                yield part

    async def aclose(self) -> None:
        with as_httpx_errors():
            await cast("Any", self.httpcore_stream).aclose()


class AsyncBoundedTransport(httpx.AsyncBaseTransport):
    """httpx's default transport for the client's settings, directly or through an HTTP(S) proxy (as
    httpx's own `proxy=`), over `AsyncBoundedBackend`."""

    def __init__(self, *, limits: httpx.Limits, proxy: str | None = None) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=True)
        backend = AsyncBoundedBackend(httpcore.AnyIOBackend())
        if proxy is None:
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                http1=True,
                http2=False,
                network_backend=backend,
            )
            return
        via = httpx.Proxy(url=proxy)
        self._pool = httpcore.AsyncHTTPProxy(
            proxy_url=httpcore.URL(
                scheme=via.url.raw_scheme, host=via.url.raw_host, port=via.url.port, target=via.url.raw_path
            ),
            proxy_auth=via.raw_auth,
            proxy_headers=via.headers.raw,
            ssl_context=ssl_context,
            proxy_ssl_context=via.ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )

    @property
    def pool(self) -> httpcore.AsyncConnectionPool:
        """The connection pool (its `connections`, public, say what is open)."""
        return self._pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=cast("AsyncIterable[bytes]", request.stream),
            extensions=request.extensions,
        )
        with as_httpx_errors():
            answer = await self._pool.handle_async_request(core_request)
        body = AsyncBoundedBody(cast("AsyncIterable[bytes]", answer.stream))
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=body,
            extensions={**answer.extensions, BODY_EXTENSION: body},
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def proxy_mounts(limits: httpx.Limits) -> dict[str, httpx.AsyncBaseTransport | None]:
    """The proxies of the environment, mounted as httpx's client mounts them (it mounts none once it is
    given a transport): through an HTTP(S) proxy, this transport, bounded as without one; through a SOCKS
    proxy, httpx's own (per-phase timeouts only); None where NO_PROXY says none."""
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for pattern, proxy in environment_proxies().items():
        if proxy is None:
            mounts[pattern] = None
        elif httpx.URL(proxy).scheme in ("http", "https"):
            mounts[pattern] = AsyncBoundedTransport(limits=limits, proxy=proxy)
        else:
            mounts[pattern] = httpx.AsyncHTTPTransport(proxy=proxy, limits=limits)
    return mounts
