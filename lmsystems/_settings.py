"""Client settings: arguments first, then environment variables, then defaults. Secrets stay out of repr."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from ._body_cap import DEFAULT_MAX_RESPONSE_BYTES
from ._exceptions import APIKeyError, InputError
from ._headers import is_key
from ._validation import graph_name as check_graph_name
from ._validation import positive_int
from ._validation import seconds as check_seconds

DEFAULT_BASE_URL = "https://api.lmsystems.ai"
API_KEY_ENV = "LMSYSTEMS_API_KEY"
BASE_URL_ENV = "LMSYSTEMS_BASE_URL"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=30.0)
DEFAULT_MAX_RETRIES = 2


def check_key(value: object, *, argument: str) -> str:
    """A key must be a non-empty string of printable ASCII without spaces (it travels in a header).

    The error (an APIKeyError, also an InputError) never quotes the value.
    """
    if not isinstance(value, str):
        raise APIKeyError(f"{argument} must be a string, not {type(value).__name__}")
    if not is_key(value):
        raise APIKeyError(
            f"{argument} is malformed: it must be printable ASCII without spaces or newlines "
            f"(its {len(value)} characters are not shown)"
        )
    return value


def check_url(value: str, *, argument: str) -> str:
    """An http(s) URL without credentials in it; returned without a trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{argument} must be an http(s) URL, not {value!r}")
    try:
        parts = urlsplit(value.strip())
        port = parts.port  # raises ValueError for a bad port
    except ValueError as error:
        raise InputError(f"{argument} is not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{argument} must be an http(s) URL with a host, not {value!r}")
    if parts.username is not None or parts.password is not None:
        raise InputError(f"{argument} must not carry credentials in the URL")
    if parts.query or parts.fragment:
        raise InputError(f"{argument} must not have a query or fragment")
    del port
    return value.strip().rstrip("/")


@dataclass(frozen=True)
class StreamLimits:
    """How patient a stream is (seconds; None means no limit)."""

    #: The longest wait for the next event while the connection is alive (heartbeats do not count).
    idle_timeout: float | None = 300.0
    #: The longest a whole stream may take, reconnects included.
    deadline: float | None = None
    #: Consecutive failed reconnects before a dropped stream is given up (0: never reconnect).
    max_reconnects: int = 5
    #: The largest event accepted, in bytes.
    max_event_bytes: int = 16 * 1024 * 1024

    def override(
        self,
        *,
        idle_timeout: object = ...,
        deadline: object = ...,
        max_reconnects: object = ...,
        max_event_bytes: object = ...,
    ) -> StreamLimits:
        """These limits with the given ones replaced (checked; `...` keeps a limit)."""
        return StreamLimits(
            idle_timeout=self.idle_timeout
            if idle_timeout is ...
            else check_seconds(idle_timeout, argument="idle_timeout"),
            deadline=self.deadline if deadline is ... else check_seconds(deadline, argument="deadline"),
            max_reconnects=self.max_reconnects
            if max_reconnects is ...
            else positive_int(max_reconnects, argument="max_reconnects", allow_zero=True),
            max_event_bytes=self.max_event_bytes
            if max_event_bytes is ...
            else positive_int(max_event_bytes, argument="max_event_bytes"),
        )


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client needs to know before its first request."""

    graph_name: str | None  # None only in direct mode: runs then name their assistant_id
    api_key: str | None = field(repr=False)
    base_url: str
    deployment_url: str | None = None
    deployment_key: str | None = field(default=None, repr=False)
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    max_retries: int = DEFAULT_MAX_RETRIES
    stream_limits: StreamLimits = field(default_factory=StreamLimits)
    #: The largest answer read (decoded), in bytes; a larger one is refused with an APIResponseError.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @property
    def direct(self) -> bool:
        """True when talking to an Agent Server directly, without the marketplace."""
        return self.deployment_url is not None

    @classmethod
    def resolve(
        cls,
        *,
        graph_name: object,
        api_key: str | None,
        base_url: str | None,
        deployment_url: str | None,
        deployment_key: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        stream_limits: StreamLimits | None = None,
        environ: Mapping[str, str] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> ClientSettings:
        """Check the arguments and fill the gaps from the environment; raises before any request."""
        env = os.environ if environ is None else environ
        direct_url = (
            check_url(deployment_url, argument="deployment_url") if deployment_url is not None else None
        )
        name = None if graph_name is None and direct_url is not None else check_graph_name(graph_name)
        key = api_key if api_key is not None else env.get(API_KEY_ENV)
        if key is not None:
            key = check_key(key, argument="api_key" if api_key is not None else API_KEY_ENV)
        elif direct_url is None:
            raise APIKeyError(
                f"no API key: pass the api_key argument or set {API_KEY_ENV} "
                "(or pass deployment_url to talk to an Agent Server directly)"
            )
        if deployment_key is not None:
            check_key(deployment_key, argument="deployment_key")
        url = base_url if base_url is not None else env.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        return cls(
            graph_name=name,
            api_key=key,
            base_url=check_url(url, argument="base_url" if base_url is not None else BASE_URL_ENV),
            deployment_url=direct_url,
            deployment_key=deployment_key,
            timeout=cls.check_timeout(timeout),
            max_retries=positive_int(max_retries, argument="max_retries", allow_zero=True),
            stream_limits=stream_limits or StreamLimits(),
            max_response_bytes=positive_int(max_response_bytes, argument="max_response_bytes"),
        )

    @staticmethod
    def check_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
        """A timeout in seconds (or an httpx.Timeout) as an httpx.Timeout; None gives the defaults."""
        return _timeout(value)


class CallTimeout(httpx.Timeout):
    """What `timeout=<seconds>` gives: httpx's phases (connect at most 10 s), and `total`, a bound on
    each attempt as a whole, so that a server trickling its answer a byte a second cannot hold a call.
    An `httpx.Timeout` given as such keeps httpx's per-phase meaning only."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds, connect=min(seconds, DEFAULT_TIMEOUT.connect or 10.0))
        self.total = seconds

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallTimeout) and super().__eq__(other) and self.total == other.total

    def __hash__(self) -> int:
        return hash((self.total, *self.as_dict().values()))

    def __repr__(self) -> str:
        return f"CallTimeout({self.total!r})"


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InputError(f"timeout must be a positive number of seconds or an httpx.Timeout, not {value!r}")
    return CallTimeout(float(value))
