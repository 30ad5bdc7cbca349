"""The end of the current attempt, as the network layer sees it (pure: no I/O).

The transport (`_async/_http.py`) knows when an attempt must be over (`timeout=<seconds>`, a stream's
deadline); the network streams of our connection pool (`_async/_network.py`) read and write far below
it, inside httpcore and h11. The instant travels between them in a context variable, set around the
attempt (`attempt_until`): every connect, write and read of the attempt then waits at most what is left
of it, and one started after it raises httpcore's timeout. So a head or a body trickled a byte at a time
ends with the attempt in the sync client too, which cannot interrupt a blocking read from outside.

A context variable is per thread and per asyncio task (a task copies it when it is created), so the
threads sharing one sync client, and concurrent tasks, each see their own attempt's end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

import httpcore
import httpx

__all__ = ["as_httpx_errors", "attempt_until", "cut", "httpx_error"]

_ENDS: Final[ContextVar[float | None]] = ContextVar("lmsystems_attempt_ends", default=None)


@contextmanager
def attempt_until(until: float | None) -> Iterator[None]:
    """Inside the block, the network waits for nothing past `until` (a `time.monotonic()` instant)."""
    token = _ENDS.set(until)
    try:
        yield
    finally:
        _ENDS.reset(token)


def cut(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """`timeout` (seconds, None: none) cut to what is left of the current attempt; `expired` is raised
    when nothing is left. Outside an attempt with an end, `timeout` unchanged."""
    ends = _ENDS.get()
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise expired("the attempt's time ran out")
    return left if timeout is None or timeout > left else timeout


#: httpcore's exceptions and httpx's for them, as httpx's own transport maps them (most specific first).
_HTTPX_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def httpx_error(error: Exception) -> httpx.TransportError | None:
    """httpx's exception for one of httpcore's (None for any other), as httpx's own transport raises it."""
    for raised, mapped in _HTTPX_ERRORS:
        if isinstance(error, raised):
            return mapped(str(error))
    return None


@contextmanager
def as_httpx_errors() -> Iterator[None]:
    """Inside the block, httpcore's exceptions are raised as httpx's (`httpx_error`), from the original."""
    try:
        yield
    except Exception as error:
        mapped = httpx_error(error)
        if mapped is None:
            raise
        raise mapped from error
