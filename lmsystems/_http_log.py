"""The log lines of the transport: one DEBUG line per answer, one INFO line per failed attempt."""

from __future__ import annotations

import logging
import time

import httpx

from ._exceptions import LmsystemsError
from ._requests import Endpoint, RequestSpec

logger = logging.getLogger("lmsystems")


def log_answer(
    endpoint: Endpoint, spec: RequestSpec, response: httpx.Response, *, started: float, attempt: int
) -> None:
    """DEBUG: one line per answer (a stream's once its headers arrived)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s %s %s -> %d in %.0f ms (request id %s, attempt %d)",
            endpoint.service,
            spec.method,
            spec.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
            response.headers.get("x-request-id") or "-",
            attempt + 1,
        )


def log_failure(
    endpoint: Endpoint,
    spec: RequestSpec,
    error: LmsystemsError,
    *,
    started: float,
    attempt: int,
    retries: int,
    delay: float | None,
) -> None:
    """INFO: a failed attempt, with the request id, and whether it is retried."""
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "%s %s %s failed in %.0f ms (request id %s, attempt %d of %d); %s: %s",
            endpoint.service,
            spec.method,
            spec.path,
            (time.monotonic() - started) * 1000,
            error.request_id or "-",
            attempt + 1,
            retries + 1,
            f"retrying in {delay:.2f}s" if delay is not None else "giving up",
            error.message,
        )
