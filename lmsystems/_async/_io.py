"""The few I/O primitives that differ between async and sync (its twin is lmsystems/_sync/_io.py)."""

from __future__ import annotations

import asyncio
from typing import Any

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
