"""Keep API keys out of log records: a filter on our logger and httpx's/httpcore's, at every level.

Two layers: header-shaped text (`x-api-key: ...`, `Authorization: Bearer ...`) is masked wherever it
appears, and the exact keys that clients in this process use are masked in any form. The filter is
attached once, idempotently, when the first client is created; it changes nothing else of the logging
configuration.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

REDACTED = "[REDACTED]"
#: Shorter values are not masked by value (a one-letter "key" would mask that letter everywhere);
#: header-shaped text is masked whatever its length.
MIN_SECRET_LENGTH = 6
LOGGER_NAMES = (
    "lmsystems",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)
_HEADER_VALUE = re.compile(
    r"""(?P<name>x-api-key|authorization|api[-_]key|lgraph_api_key|deployment_key)"""
    r"""(?P<sep>['"]?\s*[:=,]\s*(?:b?['"])?\s*(?:bearer\s+)?)(?P<value>[^\s'",)\]}]+)""",
    re.IGNORECASE,
)


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message and arguments before any handler sees it."""

    def __init__(self) -> None:
        super().__init__("lmsystems-secrets")
        self._secrets: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        """Start masking this exact value (counted: one add per client using it)."""
        if secret:
            with self._lock:
                self._secrets[secret] = self._secrets.get(secret, 0) + 1

    def discard(self, secret: str | None) -> None:
        """A client stopped using this value."""
        if secret:
            with self._lock:
                left = self._secrets.get(secret, 0) - 1
                if left > 0:
                    self._secrets[secret] = left
                else:
                    self._secrets.pop(secret, None)

    def redact(self, text: str) -> str:
        """The text with header-shaped secrets and known keys masked."""
        text = _HEADER_VALUE.sub(lambda m: f"{m.group('name')}{m.group('sep')}{REDACTED}", text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= MIN_SECRET_LENGTH and secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: leave it to logging's own handling
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


_FILTER = SecretFilter()
_INSTALLED = threading.Event()


def secret_filter() -> SecretFilter:
    """The process's filter, attached to our logger and httpx's/httpcore's on first use."""
    if not _INSTALLED.is_set():
        for name in LOGGER_NAMES:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        _INSTALLED.set()
    return _FILTER


def redact(value: Any) -> str:
    """`str(value)` with secrets masked (for messages built from foreign text); installs nothing."""
    return _FILTER.redact(str(value))
