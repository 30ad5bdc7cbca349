"""The few I/O primitives that differ between async and sync (its twin is lmsystems/_sync/_io.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

sleep = asyncio.sleep
Lock = asyncio.Lock


async def ws_connect(url: str, headers: dict[str, str], *, open_timeout: float | None, max_size: int) -> Any:
    """Open a WebSocket (the `websocket` extra: the websockets package, imported only here)."""
    from websockets.asyncio.client import connect  # noqa: PLC0415 - the websocket extra, only when used

    return await connect(url, additional_headers=headers, open_timeout=open_timeout, max_size=max_size)


async def ws_recv(ws: Any, timeout: float | None) -> str | bytes:
    """The next message of a WebSocket (TimeoutError after `timeout` seconds)."""
    message: str | bytes = await asyncio.wait_for(ws.recv(), timeout)
    return message


def within(seconds: float | None) -> asyncio.Timeout:
    """Cancel what runs inside after `seconds` (None: never); TimeoutError is raised on leaving."""
    return asyncio.timeout(seconds)


def running_loop() -> object | None:
    """The event loop this code runs in (the sync twin: None)."""
    return asyncio.get_running_loop()


_ABANDONED: set[asyncio.Future[Any]] = set()  # background closes, kept alive until they finish


async def uncancelled(awaitable: Awaitable[T], *, abandoned: Callable[[T], Awaitable[None]]) -> T:
    """Await `awaitable` in a task of its own, so that cancelling the caller does not cancel it.

    httpcore strands a pooled connection (state NEW, never used, never freed until the pool closes) when
    a request is cancelled between its connection's creation and its use. So a request's head is sent
    and awaited in its own task: the caller's cancellation (a timeout, a cancelled stream) is raised at
    once, and what the task gives afterwards is handed to `abandoned` (which closes it).
    """
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(lambda done: _abandon(done, abandoned))
        raise


def _abandon(done: asyncio.Future[T], abandoned: Callable[[T], Awaitable[None]]) -> None:
    if done.cancelled() or done.exception() is not None:
        return  # retrieved: a failure nobody waits for is not an error to report
    closing = asyncio.ensure_future(abandoned(done.result()))
    _ABANDONED.add(closing)
    closing.add_done_callback(_ABANDONED.discard)


async def close_shielded(response: httpx.Response) -> None:
    """Close an answer even if the caller is cancelled meanwhile: httpcore's own shield does not stop an
    asyncio cancellation, and one that lands inside its close leaves the connection ACTIVE for good."""
    closing = asyncio.ensure_future(response.aclose())
    try:
        await asyncio.shield(closing)
    except asyncio.CancelledError:
        _ABANDONED.add(closing)
        closing.add_done_callback(_ABANDONED.discard)
        raise
