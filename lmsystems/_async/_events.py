"""Read an open event stream's body: the server-sent events, in batches (those one read completed).

The body is read straight from the connection where that is exact (see `lmsystems._body`), else through
httpx; decoding and the stream's limits are the pure `EventReader`'s.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import cast

import httpx

from .._body import READ_SIZE, RawBody, hand_back, raw_read_error, take_over
from .._body_cap import UnsupportedEncodingError, inflater
from .._cause import masked
from .._chunked import BodyProtocolError
from .._event_reader import EventReader
from .._exceptions import StreamError
from .._requests import Endpoint, RequestSpec
from .._sse import ServerSentEvent
from .._transport import request_error


async def iter_events(
    response: httpx.Response, reader: EventReader, endpoint: Endpoint, spec: RequestSpec
) -> AsyncIterator[list[ServerSentEvent]]:
    """The events of `response` in batches; transport and decoding failures become our exceptions."""
    monotonic = time.monotonic
    raw = take_over(response)
    in_memory = raw is None and response.is_stream_consumed  # a transport that built it (tests)
    try:
        decoder = None if raw is not None or in_memory else inflater(response.headers.get("content-encoding"))
    except UnsupportedEncodingError as error:
        raise StreamError(f"the stream from {reader.where} is {error}") from None
    chunks: AsyncIterable[bytes]
    if raw is not None:  # the fast path: the bytes after the headers, read from the connection
        chunks = read_raw_body(raw)
    elif in_memory:
        chunks = response.aiter_bytes()
    else:  # the raw stream: inflated here a piece at a time (httpx inflates a whole read at once: a
        # bomb's gigabytes), and not closed by httpx at its end (the stream's owner closes it, shielded)
        chunks = cast("AsyncIterable[bytes]", response.stream)
    try:
        if raw is not None:
            body = raw.decoder
            if raw.first:  # the body bytes h11 had buffered
                events = reader.feed(raw.first, monotonic())
                if events:
                    yield events
                reader.check()
            async for data in chunks:
                events = (
                    reader.feed_chunked(data, body, monotonic())
                    if body.framing == "chunked"
                    else reader.feed(body.feed(data), monotonic())
                )
                if events:
                    yield events
                reader.check()
        else:
            async for chunk in chunks:
                for piece in (chunk,) if decoder is None else decoder.pieces(chunk):
                    events = reader.feed(piece, monotonic())
                    if events:
                        yield events
                    reader.check()
    except zlib.error as error:
        raise StreamError(f"the stream from {reader.where} is corrupt: {error}") from None
    except BodyProtocolError as error:
        mapped = raw_read_error(error)
        assert mapped is not None
        raise request_error(mapped, endpoint, spec) from masked(error)
    except httpx.HTTPError as error:
        final = reader.silent(monotonic()) if isinstance(error, httpx.TimeoutException) else None
        if final is not None:
            raise final from None
        raise request_error(error, endpoint, spec) from masked(error)
    reader.end()


async def read_raw_body(raw: RawBody) -> AsyncIterator[bytes]:
    """The bytes after what h11 had buffered of a response taken over from httpx, read from its
    connection in large reads, undecoded: the caller hands them to `raw.decoder` before the next.

    Failures are raised as the httpx exceptions httpx itself would have raised.
    """
    decoder = raw.decoder
    try:
        while not decoder.done:
            data = b"" if raw.closed else await raw.network.read(READ_SIZE, timeout=raw.read_timeout)
            if not data:
                decoder.end()
                return
            yield data
        hand_back(raw)
    except Exception as error:
        mapped = raw_read_error(error)
        if mapped is None:
            raise
        raise mapped from masked(error)
