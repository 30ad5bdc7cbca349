"""When to retry a request, and how long to wait: pure functions, shared by sync and async."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

RETRY_STATUSES = frozenset({429, 502, 503, 504})
INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's requested wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def backoff(attempt: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff from 0.5 s, capped, with jitter (attempt 0 is the first retry)."""
    delay = min(MAX_DELAY, INITIAL_DELAY * (2.0**attempt))
    return delay * (1.0 - 0.25 * (rng or random).random())


def delay_for_status(
    attempt: int,
    max_retries: int,
    *,
    idempotent: bool,
    status_code: int,
    headers: Mapping[str, str],
) -> float | None:
    """Seconds to wait before retrying an answer with this status, or None to give up."""
    if attempt >= max_retries:
        return None
    should = headers.get("x-should-retry")
    if should == "false" or status_code == 409:
        return None
    if should != "true" and not (idempotent and status_code in RETRY_STATUSES):
        return None
    wait = retry_after(headers)
    if wait is not None and wait <= MAX_RETRY_AFTER:
        return wait
    return backoff(attempt)


def delay_for_error(attempt: int, max_retries: int, *, idempotent: bool, sent: bool) -> float | None:
    """Seconds to wait before retrying after a connection error or timeout, or None to give up.

    A request that may have reached the server (`sent`) is replayed only when it is idempotent.
    """
    if attempt >= max_retries or (sent and not idempotent):
        return None
    return backoff(attempt)
