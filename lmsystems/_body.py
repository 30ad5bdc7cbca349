"""Read an event stream's body straight from its connection: the fast path of streams.

httpx hands a streamed HTTP/1.1 body through h11, httpcore and its own byte stream one HTTP chunk at a
time, and the Agent Server sends one chunk per event: h11 alone was 37% of a stream's CPU. Once httpx
has read the response's headers, `take_over()` returns the connection's network stream (httpcore's
public `network_stream` extension) and the body bytes h11 has buffered but not parsed yet (h11's public
`trailing_data`), and the stream reads whole network reads (up to 256 KiB) through our own chunked decoder.

When the whole body was read, `hand_back()` brings h11 to the end of the message through its public
API: h11 still holds the bytes it had buffered, and it is given, with `receive_data()`, the few bytes
that end a chunked message from there (`BodyDecoder.completion()`), then read with `next_event()` up to
`EndOfMessage`; httpcore then keeps the connection for the next request. A body left early (or anything
unexpected) leaves h11 short of the end, and httpcore closes the connection, as it always does then.
Nothing of another library's private state is written; the one private read (finding h11's connection)
is in `_httpcore_internals.py`.

It applies only where it is exact: HTTP/1.1 through the client's own transport (no proxy, no custom
transport), no content encoding, and h11 right at the start of the body. Anything else, or the
environment variable `LMSYSTEMS_FAST_STREAMS=0`, falls back to httpx's own iteration, with the same
events and errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Final

import h11
import httpcore
import httpx

from ._attempt_clock import httpx_error
from ._chunked import BodyDecoder, BodyProtocolError
from ._httpcore_internals import h11_connection_of

__all__ = [
    "FAST_STREAMS_ENV",
    "READ_SIZE",
    "RawBody",
    "fast_streams",
    "hand_back",
    "raw_read_error",
    "take_over",
]

#: The most one read takes from the connection: what asyncio's transport reads at once (256 KiB), so a
#: read is never split into smaller pieces (each split copies the rest); a sync read allocates this much
#: and gives back what it did not fill.
READ_SIZE: Final = 256 * 1024
#: `LMSYSTEMS_FAST_STREAMS=0` (or `false`, `no`, `off`) reads every stream through httpx.
FAST_STREAMS_ENV: Final = "LMSYSTEMS_FAST_STREAMS"


@dataclass(slots=True)
class RawBody:
    """A response body to read from the connection: the network stream, its decoder, what h11 held."""

    network: Any  # httpcore's (Async)NetworkStream: `read(max_bytes, timeout=...)`
    decoder: BodyDecoder
    first: bytes  # the body bytes of what h11 had buffered (already fed to the decoder)
    closed: bool  # the connection already reached EOF
    read_timeout: float | None
    h11: h11.Connection
    completion: bytes | None  # what ends the message for h11 after what it buffered (chunked bodies)


def fast_streams(environ: Any = os.environ) -> bool:
    """Whether streams may be read below httpx (`LMSYSTEMS_FAST_STREAMS`, read, never written)."""
    return str(environ.get(FAST_STREAMS_ENV, "1")).strip().lower() not in ("0", "false", "no", "off")


def take_over(response: httpx.Response) -> RawBody | None:
    """The body of `response` to read directly, or None when httpx must read it."""
    if response.http_version != "HTTP/1.1" or not fast_streams():
        return None
    headers = response.headers
    if headers.get("content-encoding", "identity").strip().lower() not in ("identity", ""):
        return None
    network = response.extensions.get("network_stream")
    if network is None or not hasattr(network, "read"):
        return None
    connection = h11_connection_of(response)
    if connection is None or connection.their_state is not h11.SEND_BODY:
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
    buffered, closed = connection.trailing_data
    try:
        first = decoder.feed(bytes(buffered))
    except BodyProtocolError:
        return None  # httpx reads it, and raises what it raises for a broken body
    timeout = response.request.extensions.get("timeout", {})
    return RawBody(
        network, decoder, first, bool(closed), timeout.get("read"), connection, decoder.completion()
    )


def hand_back(raw: RawBody) -> bool:
    """After a whole chunked body: bring h11 to the end of the message, so the connection can be reused.

    Returns whether h11 reached it; otherwise httpcore closes the connection, as it would anyway.
    """
    decoder = raw.decoder
    if raw.completion is None or not decoder.done or decoder.overflow or raw.closed:
        return False
    connection = raw.h11
    try:
        if raw.completion:  # (an empty receive_data() would tell h11 the connection closed)
            connection.receive_data(raw.completion)
        while True:
            event = connection.next_event()
            if isinstance(event, h11.EndOfMessage):
                return True
            if not isinstance(event, h11.Data):
                return False  # NEED_DATA, PAUSED or anything else: leave it to httpcore to close
    except h11.ProtocolError:
        return False


def raw_read_error(error: BaseException) -> httpx.HTTPError | None:
    """httpx's exception for a failure of a direct read (as httpx itself would have raised it)."""
    if isinstance(error, BodyProtocolError):
        return httpx.RemoteProtocolError(str(error))
    if isinstance(error, httpcore.TimeoutException):  # a read's: anyio's carry no text
        return httpx.ReadTimeout(str(error) or "read timed out")
    return httpx_error(error) if isinstance(error, Exception) else None
