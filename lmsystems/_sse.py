"""Sans-I/O Server-Sent Events decoder (WHATWG HTML "event stream interpretation").

Bytes go in, :class:`ServerSentEvent` tuples come out; no sockets, no asyncio. The decoder works on
bytes, splits lines with ``bytes.splitlines`` (which splits on exactly CR, LF and CRLF), and decodes
UTF-8 strictly, once per field value (data lines are joined first, so once per event).
"""

from __future__ import annotations

from typing import Final, NamedTuple, NoReturn

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "SSEDecodeError",
    "SSEDecoder",
    "SSEEventTooLargeError",
    "SSEInvalidUTF8Error",
    "SSETruncatedError",
    "ServerSentEvent",
]

DEFAULT_MAX_EVENT_BYTES: Final = 16 * 1024 * 1024
_BOM: Final = b"\xef\xbb\xbf"
_CR: Final = 13
_LF: Final = 10
_COLON: Final = 58
_SPACE: Final = 32
_E: Final = ord("e")
_I: Final = ord("i")


class ServerSentEvent(NamedTuple):
    """One dispatched event.

    ``id`` is the stream's last event ID at dispatch time (it persists across events; ``None`` if never
    set or reset by an empty ``id`` field). ``retry`` is the valid ``retry`` field of this event's block.
    """

    event: str
    data: str
    id: str | None
    retry: int | None


class SSEDecodeError(ValueError):
    """The byte stream is not a valid event stream. ``events`` holds events decoded before the error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.events: list[ServerSentEvent] = []


class SSETruncatedError(SSEDecodeError):
    """The stream ended inside an event (fields without the terminating blank line, or a partial line)."""

    def __init__(self, message: str, *, buffered_bytes: int) -> None:
        super().__init__(message)
        self.buffered_bytes = buffered_bytes


class SSEEventTooLargeError(SSEDecodeError):
    """One line or one event's data exceeded ``max_event_bytes``."""

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class SSEInvalidUTF8Error(SSEDecodeError):
    """A line of the stream is not valid UTF-8."""


def _too_large(what: str, size: int, limit: int) -> SSEEventTooLargeError:
    return SSEEventTooLargeError(
        f"SSE {what} is larger than max_event_bytes: {size} bytes buffered, limit is {limit} bytes",
        size=size,
        limit=limit,
    )


def _invalid_utf8(what: str, exc: UnicodeDecodeError) -> SSEInvalidUTF8Error:
    bad = exc.object[exc.start : exc.end]
    return SSEInvalidUTF8Error(
        f"invalid UTF-8 in SSE {what}: {exc.reason} (bytes {bytes(bad)!r} at offset {exc.start} "
        f"of a {len(exc.object)}-byte value)"
    )


_new_event = tuple.__new__


class SSEDecoder:
    """Incremental event-stream decoder.

    Call :meth:`feed` with each network chunk and :meth:`end` at EOF. Errors raised by :meth:`feed`
    are final: the decoder re-raises the same error on every later call. :meth:`end` resets the
    per-stream state (keeping ``last_event_id``, ``retry`` and ``comments_seen``), so one decoder can
    follow a reconnected stream.
    """

    __slots__ = (
        "_at_start",
        "_data",
        "_data_size",
        "_error",
        "_event",
        "_in_event",
        "_last_event_id",
        "_max",
        "_pending",
        "_pending_size",
        "_retry",
        "_skip_lf",
        "_slow",
        "_stream_retry",
        "comments_seen",
    )

    def __init__(
        self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES, last_event_id: str | None = None
    ) -> None:
        if max_event_bytes <= 0:
            raise ValueError(f"max_event_bytes must be positive, got {max_event_bytes}")
        self._max = max_event_bytes
        self._last_event_id = last_event_id or None
        self._stream_retry: int | None = None
        self._error: SSEDecodeError | None = None
        #: Number of comment lines (``: heartbeat``) seen; diagnostics only.
        self.comments_seen = 0
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._pending: list[bytes] = []  # pieces of an unterminated line
        self._pending_size = 0
        self._skip_lf = False  # the previous chunk ended with CR: a leading LF is part of that CRLF
        self._at_start = True  # a BOM may still follow
        self._slow = True  # _feed_slow has work to do (start of stream, CR seen, failed)
        self._data: list[bytes] = []
        self._data_size = 0
        self._event: str | None = None
        self._retry: int | None = None
        self._in_event = False  # a field line was seen since the last blank line

    @property
    def last_event_id(self) -> str | None:
        """The last ``id`` field seen (persists across events); ``None`` if never set or reset by ``id:``."""
        return self._last_event_id

    @last_event_id.setter
    def last_event_id(self, value: str | None) -> None:
        # Set by a reader that decoded whole events of this stream itself (`lmsystems._wire`).
        self._last_event_id = value

    @property
    def max_event_bytes(self) -> int:
        """The largest line or event data accepted, in bytes."""
        return self._max

    @property
    def at_boundary(self) -> bool:
        """Whether the decoder stands between events: nothing buffered, no field of an event seen, not
        failed, past the start of the stream (feeding it one whole event then dispatches exactly it)."""
        return not (self._slow or self._pending or self._in_event)

    @property
    def retry(self) -> int | None:
        """The last valid ``retry`` field seen on the stream (reconnection time in milliseconds)."""
        return self._stream_retry

    @property
    def pending(self) -> bool:
        """Whether bytes or fields of an unfinished event are buffered (``end()`` would raise)."""
        return bool(self._pending) or self._in_event

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Decode one chunk of the stream; return the events it completed (often none or one)."""
        if type(chunk) is not bytes:
            chunk = bytes(chunk)
        if self._slow:  # rare states: failed decoder, CR at the end of the last chunk, start of stream
            chunk = self._feed_slow(chunk)
        if not chunk:
            return []
        pending = self._pending
        last = chunk[-1]
        if last != _LF and last != _CR and _LF not in chunk and _CR not in chunk:  # noqa: PLR1714
            # No line ending at all: buffer the piece without copying what is already buffered.
            pending.append(chunk)
            self._pending_size += len(chunk)
            if self._pending_size > self._max - self._data_size:
                self._fail(self._too_large_pending())
            return []
        if pending:
            pending.append(chunk)
            chunk = b"".join(pending)
            pending.clear()
            self._pending_size = 0
        lines = chunk.splitlines()  # bytes.splitlines splits on exactly CR, LF and CRLF
        if last == _CR:
            self._skip_lf = self._slow = True
        elif last != _LF:
            tail = lines.pop()
            pending.append(tail)
            self._pending_size = len(tail)

        # Hot loop: state lives in locals and is written back once per chunk.
        out: list[ServerSentEvent] = []
        limit = self._max
        data = self._data
        size = self._data_size
        event = self._event
        retry = self._retry
        in_event = self._in_event
        last_id = self._last_event_id
        try:
            if len(chunk) > limit:
                longest = max(map(len, lines), default=0)
                if longest > limit:
                    raise _too_large("line", longest, limit)
            for line in lines:
                if not line:  # blank line: dispatch
                    if data:
                        raw = data[0] if len(data) == 1 else b"\n".join(data)
                        try:
                            text = raw.decode()
                        except UnicodeDecodeError as exc:
                            raise _invalid_utf8("data field", exc) from None
                        out.append(_new_event(ServerSentEvent, (event or "message", text, last_id, retry)))
                        data.clear()
                        size = 0
                    event = None
                    retry = None
                    in_event = False
                    continue
                if line[:6] == b"data: ":  # fast path for the most common field
                    value = line[6:]
                    size += len(value) + 1
                    if size > limit:
                        raise _too_large("event", size, limit)
                    data.append(value)
                    in_event = True
                    continue
                first = line[0]
                if first == _COLON:
                    self.comments_seen += 1
                    try:
                        line.decode()
                    except UnicodeDecodeError as exc:
                        raise _invalid_utf8("comment", exc) from None
                    continue
                in_event = True
                if first == _E and line[:7] == b"event: ":  # fast paths skip partition()
                    name = b"event"
                    value = line[7:]
                elif first == _I and line[:4] == b"id: ":
                    name = b"id"
                    value = line[4:]
                else:
                    name, _, value = line.partition(b":")
                    if value and value[0] == _SPACE:
                        value = value[1:]
                if name == b"data":
                    size += len(value) + 1
                    if size > limit:
                        raise _too_large("event", size, limit)
                    data.append(value)
                elif name == b"event":
                    try:
                        event = value.decode()
                    except UnicodeDecodeError as exc:
                        raise _invalid_utf8("event field", exc) from None
                elif name == b"id":
                    if 0 not in value:  # an id containing NUL is ignored
                        try:
                            last_id = value.decode() or None
                        except UnicodeDecodeError as exc:
                            raise _invalid_utf8("id field", exc) from None
                elif name == b"retry" and value.isdigit() and len(value) < 4000:  # ASCII digits only
                    retry = self._stream_retry = int(value)
                else:  # unknown field (ignored) or an invalid retry: still validate the encoding
                    try:
                        line.decode()
                    except UnicodeDecodeError as exc:
                        raise _invalid_utf8("line", exc) from None
            if self._pending_size > limit - size:
                raise self._too_large_pending(size)
        except SSEDecodeError as exc:
            exc.events = out
            self._fail(exc)
        finally:
            self._data_size = size
            self._event = event
            self._retry = retry
            self._in_event = in_event
            self._last_event_id = last_id
        return out

    def _feed_slow(self, chunk: bytes) -> bytes:
        if self._error is not None:
            raise self._error
        if not chunk:
            return chunk
        self._slow = False
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if self._at_start:
            pending = self._pending
            if pending:
                chunk = b"".join(pending) + chunk
                pending.clear()
                self._pending_size = 0
            if len(chunk) < 3 and _BOM.startswith(chunk):  # maybe a BOM split across chunks
                pending.append(chunk)
                self._pending_size = len(chunk)
                self._slow = True
                return b""
            self._at_start = False
            chunk = chunk.removeprefix(_BOM)
        return chunk

    def end(self) -> list[ServerSentEvent]:
        """Signal EOF: return ``[]`` (no dispatch at EOF, per spec) or raise :class:`SSETruncatedError`."""
        if self._error is not None:
            raise self._error
        pending_size = self._pending_size
        in_event = self._in_event
        data_size = self._data_size
        self._reset_stream()
        if pending_size:
            raise SSETruncatedError(
                f"SSE stream ended inside an unterminated line ({pending_size} bytes buffered)",
                buffered_bytes=pending_size + data_size,
            )
        if in_event:
            raise SSETruncatedError(
                "SSE stream ended inside an event: fields were received without the terminating "
                f"blank line ({data_size} data bytes buffered)",
                buffered_bytes=data_size,
            )
        return []

    def _fail(self, exc: SSEDecodeError) -> NoReturn:
        self._error = exc
        self._slow = True
        raise exc

    def _too_large_pending(self, data_size: int | None = None) -> SSEEventTooLargeError:
        if self._pending_size > self._max:
            return _too_large("line", self._pending_size, self._max)
        size = (self._data_size if data_size is None else data_size) + self._pending_size
        return _too_large("event", size, self._max)
