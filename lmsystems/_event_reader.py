"""A stream body's chunks to server-sent events, with the stream's limits (pure: the caller reads).

The async and the sync event iterators (`lmsystems/_async/_events.py` and its twin) read the body and
hand every chunk to `feed()`, deliver what it returns, then call `check()`; at the end of the body,
`end()`. Decoding failures, a stream without events for too long and a passed deadline become our
exceptions here.
"""

from __future__ import annotations

from ._chunked import BodyDecoder
from ._exceptions import APITimeoutError, StreamError
from ._sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecodeError, SSEDecoder, SSETruncatedError
from ._wire import chunked_events

#: Seconds by which a read timeout may fire early (clock granularity) and still count as the limit.
SLACK = 0.05


class EventReader:
    """Decodes one connection's body; `where` ("POST /threads/.../runs/stream") names it in errors.

    `idle_timeout`: seconds without an event (heartbeat comments do not count) before a final
    APITimeoutError; `deadline`: a `time.monotonic()` instant after which the stream is given up.
    """

    __slots__ = ("_broken", "_deadline", "_decoder", "_got", "_idle_timeout", "_last_event", "_now", "where")

    def __init__(
        self,
        where: str,
        *,
        now: float,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        idle_timeout: float | None = None,
        deadline: float | None = None,
    ) -> None:
        self.where = where
        self._decoder = SSEDecoder(max_event_bytes=max_event_bytes)
        self._idle_timeout = idle_timeout
        self._deadline = deadline
        self._last_event = self._now = now
        self._got = False
        self._broken: StreamError | None = None

    def feed(self, chunk: bytes, now: float) -> list[ServerSentEvent]:
        """The events `chunk` completes (those before a broken one, which `check()` then raises)."""
        self._now = now
        try:
            events = self._decoder.feed(chunk)
        except SSEDecodeError as error:
            self._broken = StreamError(f"broken event stream from {self.where}: {error}")
            return error.events
        self._got = bool(events)
        if events:
            self._last_event = now
        return events

    def feed_chunked(self, data: bytes, body: BodyDecoder, now: float) -> list[ServerSentEvent]:
        """Like `feed()`, for the raw bytes of a chunked body that `body` decodes (`lmsystems._wire`);
        a broken HTTP framing raises BodyProtocolError."""
        self._now = now
        try:
            events = chunked_events(data, body, self._decoder)
        except SSEDecodeError as error:
            self._broken = StreamError(f"broken event stream from {self.where}: {error}")
            return error.events
        self._got = bool(events)
        if events:
            self._last_event = now
        return events

    def waiting(self, now: float) -> None:
        """A reader starts waiting for events now: the idle clock starts here (time between reads, when
        nobody waited, never counts; heartbeats that arrived meanwhile do not make the stream idle)."""
        self._last_event = now

    def check(self) -> None:
        """After the events of a chunk were delivered: raise a decoding failure, an idle stream or a
        passed deadline."""
        if self._broken is not None:
            raise self._broken
        now = self._now
        if not self._got and self._idle_timeout is not None and now - self._last_event > self._idle_timeout:
            raise APITimeoutError(
                f"no event for {self._idle_timeout:g} s from {self.where} (only heartbeats)", final=True
            )
        if self._deadline is not None and now > self._deadline:
            raise APITimeoutError(f"the stream from {self.where} passed its deadline", final=True)

    def silent(self, now: float) -> APITimeoutError | None:
        """After a read timed out (no byte at all): the final error when the stream was idle for its
        idle timeout or passed its deadline; None when only the connection stalled (to be repaired)."""
        if self._idle_timeout is not None and now - self._last_event >= self._idle_timeout - SLACK:
            return APITimeoutError(
                f"no event for {self._idle_timeout:g} s from {self.where} (not a byte)", final=True
            )
        if self._deadline is not None and now >= self._deadline - SLACK:
            return APITimeoutError(f"the stream from {self.where} passed its deadline", final=True)
        return None

    def end(self) -> None:
        """The body ended: raise if it ended inside an event (resumable) or broken."""
        try:
            self._decoder.end()
        except SSETruncatedError as error:
            raise StreamError(
                f"the stream from {self.where} ended inside an event: {error}", resumable=True
            ) from None
        except SSEDecodeError as error:
            raise StreamError(f"broken event stream from {self.where}: {error}") from None
