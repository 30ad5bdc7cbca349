"""Read an event stream's body below httpx, straight from the connection (the fast path of streams).

httpx hands a streamed HTTP/1.1 body through h11, httpcore and its own byte stream one HTTP chunk at a
time, and the Agent Server sends one chunk per event: h11 alone was 37% of a stream's CPU. Once httpx
has read the response's headers, `take_over()` returns the connection's network stream and the bytes
h11 has buffered but not parsed yet (`h11.Connection.trailing_data`), and the stream reads whole
network reads (64 KiB) through our own chunked decoder. When the whole body was read, `hand_back()`
brings h11 to the end of the message (as if it had read the body), so that httpcore keeps the connection
for the next request; a body left early (or anything unexpected) closes the connection instead, which is
what httpcore does whenever h11 has not reached the end of a response.

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

__all__ = ["READ_SIZE", "RawBody", "hand_back", "raw_read_error", "take_over"]

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
    h11: Any  # the connection's h11.Connection, brought to the end of the message by hand_back()


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
    return RawBody(
        network,
        decoder,
        bytes(buffered),
        bool(closed),
        timeout.get("read"),
        h11_connection,
    )


def hand_back(raw: RawBody) -> bool:
    """After a whole chunked body: let h11 read the end of the message, so the connection can be reused.

    h11 still holds the bytes that followed the headers (we read them through `trailing_data`, which does
    not consume them): they are dropped, and h11 is given the last chunk alone. Returns whether h11
    reached the end of the message; otherwise httpcore closes the connection, as it would anyway.
    """
    if not (
        raw.decoder.framing == "chunked" and raw.decoder.done and not raw.decoder.overflow and not raw.closed
    ):
        return False
    connection = raw.h11
    try:
        connection._receive_buffer = type(connection._receive_buffer)()
        connection.receive_data(b"0\r\n\r\n")
        event = connection.next_event()
    except Exception:  # another h11 than the one this was written for: close the connection instead
        return False
    return type(event).__name__ == "EndOfMessage"


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
