"""The few I/O primitives that differ between async and sync (its twin is lmsystems/_sync/_io.py)."""

from __future__ import annotations

import asyncio

sleep = asyncio.sleep
Lock = asyncio.Lock
