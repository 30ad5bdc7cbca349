"""Keep API keys out of log records: a filter on our logger and httpx's/httpcore's, at every level.

Two layers: header-shaped text (`x-api-key: ...`, `Authorization: Bearer ...`) is masked wherever it
appears, and the exact keys that clients in this process use are masked in any form. The filter is
attached once, idempotently, when the first client is created; it changes nothing else of the logging
configuration.

`LMSYSTEMS_LOG=debug|info`, read when a client is created, gives the `lmsystems` logger (only it) a
stderr handler at that level, with the same filter.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
LOG_ENV = "LMSYSTEMS_LOG"
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
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


def redact_value(value: Any) -> Any:
    """A decoded JSON value (dicts, lists, strings, numbers) with secrets masked in every string.

    Returns `value` itself when nothing in it needed masking, else a copy. Iterative, so a value nested
    as deep as a decoder allows is walked without recursion.
    """
    if isinstance(value, str):
        return _FILTER.redact(value)
    if not isinstance(value, dict | list):
        return value
    mask = _FILTER.redact
    copy: Any = {} if isinstance(value, dict) else []
    changed = False
    stack: list[tuple[Any, Any]] = [(value, copy)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            if isinstance(item, str):
                masked: Any = mask(item)
                changed = changed or masked != item
            elif isinstance(item, dict | list):
                masked = {} if isinstance(item, dict) else []
                stack.append((item, masked))
            else:
                masked = item
            if isinstance(target, dict):
                name = mask(key) if isinstance(key, str) else key
                changed = changed or name != key
                target[name] = masked
            else:
                target.append(masked)
    return copy if changed else value


class _EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `LMSYSTEMS_LOG` installs (a class of its own, so that it is found again)."""


_ENV_LOCK = threading.Lock()
_ENV_WARNED: set[str] = set()


def configure_from_env(environ: Mapping[str, str] | None = None) -> logging.Handler | None:
    """Honour `LMSYSTEMS_LOG=debug|info`: a stderr handler on the `lmsystems` logger, installed once.

    Called when a client is created. Other values are ignored with a warning; an empty or absent variable
    changes nothing. Returns the installed handler, if any. Root's and httpx's loggers are left alone.
    """
    value = (os.environ if environ is None else environ).get(LOG_ENV, "").strip()
    if not value:
        return None
    level = LOG_LEVELS.get(value.lower())
    if level is None:
        shown = redact(value[:40])
        if shown not in _ENV_WARNED:
            _ENV_WARNED.add(shown)
            warnings.warn(
                f"{LOG_ENV}={shown!r} is ignored: use 'debug' or 'info'", RuntimeWarning, stacklevel=2
            )
        return None
    secrets = secret_filter()
    logger = logging.getLogger("lmsystems")
    with _ENV_LOCK:
        for handler in logger.handlers:
            if isinstance(handler, _EnvHandler):
                return handler
        handler = _EnvHandler(sys.stderr)
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(secrets)  # also masks records of child loggers (`lmsystems.*`)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > level:
            logger.setLevel(level)
        return handler
