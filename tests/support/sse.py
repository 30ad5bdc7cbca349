"""Server-sent events for the tests, decoded by the SDK's own decoder (lmsystems/_sse.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lmsystems._sse import ServerSentEvent, SSEDecoder


def iter_events(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """The events of a `text/event-stream` body given in chunks (`response.iter_bytes()`)."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.end()
