"""The few I/O primitives that differ between sync and async (the twin of lmsystems/_async/_io.py)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

sleep = time.sleep
Lock = threading.Lock


def ws_connect(url: str, headers: dict[str, str], *, open_timeout: float | None, max_size: int) -> Any:
    """Open a WebSocket (the `websocket` extra: the websockets package, imported only here)."""
    from websockets.sync.client import connect  # noqa: PLC0415 - the websocket extra, only when used

    return connect(url, additional_headers=headers, open_timeout=open_timeout, max_size=max_size, legacy=True)


def ws_recv(ws: Any, timeout: float | None) -> str | bytes:
    """The next message of a WebSocket (TimeoutError after `timeout` seconds)."""
    message: str | bytes = ws.recv(timeout=timeout)
    return message


def within(seconds: float | None) -> contextlib.nullcontext[None]:
    """The sync twin cannot cancel a blocking read: the network streams of the client's transport
    (`_network.py`) cut each connect, write and read to what is left of the attempt instead."""
    del seconds
    return contextlib.nullcontext()


def running_loop() -> object | None:
    """The event loop this code runs in: none, in the sync twin."""
    return None


def uncancelled(value: T, *, abandoned: Callable[[T], None]) -> T:
    """The sync twin: a blocking call cannot be cancelled half-way, so there is nothing to protect."""
    del abandoned
    return value


def close_shielded(response: httpx.Response) -> None:
    """The sync twin: a plain close (nothing cancels it half-way)."""
    response.close()
