"""The few I/O primitives that differ between sync and async (the twin of lmsystems/_async/_io.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

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
