"""Read an event stream's body below httpx, straight from the connection (the fast path of streams).

httpx hands a streamed HTTP/1.1 body through h11, httpcore and its own byte stream one HTTP chunk at a
time, and the Agent Server sends one chunk per event: h11 alone was 37% of a stream's CPU. Once httpx
has read the response's headers, `take_over()` returns the connection's network stream and the bytes
h11 has buffered but not parsed yet (`h11.Connection.trailing_data`), and the stream reads whole
network reads (64 KiB) through our own chunked decoder. The connection is not reused afterwards: h11
never saw the body, so httpcore closes the connection when the response is closed.

It applies only where it is exact: HTTP/1.1 through httpx's own transport (no proxy, no custom
transport), no content encoding, and h11 still at the start of the body. Anything else (HTTP/2, a
proxy, another httpx or httpcore layout) falls back to httpx's own iteration, with the same events
and errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpcore
import httpx

from ._chunked import BodyDecoder, BodyProtocolError

__all__ = ["READ_SIZE", "RawBody", "raw_read_error", "take_over"]

READ_SIZE: Final = 64 * 1024
# response.stream -> httpx's response stream -> httpcore's pool stream -> its connection stream -> the
# HTTP/1.1 connection -> its h11.Connection (same names in httpx 0.27-0.28 and httpcore 1.x, sync and async)
_PATH_TO_H11: Final = ("_stream", "_httpcore_stream", "_stream", "_connection", "_h11_state")


@dataclass(slots=True)
class RawBody:
    """A response body to read from the connection: the network stream, its decoder, what h11 holds."""

    network: Any  # httpcore's (Async)NetworkStream: `read(max_bytes, timeout=...)`
    decoder: BodyDecoder
    buffered: bytes
    closed: bool  # the connection already reached EOF
    read_timeout: float | None


def take_over(response: httpx.Response) -> RawBody | None:
    """The body of `response` to read directly, or None when httpx must read it."""
    if response.http_version != "HTTP/1.1":
        return None
    headers = response.headers
    if headers.get("content-encoding", "identity").strip().lower() not in ("identity", ""):
        return None
    network = response.extensions.get("network_stream")
    h11_connection: Any = response.stream
    for name in _PATH_TO_H11:
        h11_connection = getattr(h11_connection, name, None)
        if h11_connection is None:
            return None
    if network is None or not hasattr(network, "read"):
        return None
    their_state = getattr(h11_connection, "their_state", None)
    if their_state is None or getattr(their_state, "__name__", None) != "SEND_BODY":
        return None  # h11 is not right after the headers (or this is not h11)
    transfer_encoding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if transfer_encoding is not None:
        if transfer_encoding.strip().lower() != "chunked":
            return None
        decoder = BodyDecoder("chunked")
    elif length is not None:
        if not length.strip().isdigit():
            return None
        decoder = BodyDecoder("length", length=int(length))
    else:
        decoder = BodyDecoder("close")
    buffered, closed = h11_connection.trailing_data
    timeout = response.request.extensions.get("timeout", {})
    return RawBody(network, decoder, bytes(buffered), bool(closed), timeout.get("read"))


def raw_read_error(error: BaseException) -> httpx.HTTPError | None:
    """httpx's exception for a failure of a direct read (as httpx itself would have raised it)."""
    if isinstance(error, BodyProtocolError):
        return httpx.RemoteProtocolError(str(error))
    if isinstance(error, httpcore.TimeoutException):
        return httpx.ReadTimeout(str(error) or "read timed out")
    if isinstance(error, httpcore.NetworkError | httpcore.ProtocolError):
        kind = getattr(httpx, type(error).__name__, httpx.ReadError)
        if not (isinstance(kind, type) and issubclass(kind, httpx.TransportError)):
            kind = httpx.ReadError
        return kind(str(error))
    return None
