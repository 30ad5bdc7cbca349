"""The few I/O primitives that differ between sync and async (the twin of lmsystems/_async/_io.py)."""

from __future__ import annotations

import threading
import time

sleep = time.sleep
Lock = threading.Lock
