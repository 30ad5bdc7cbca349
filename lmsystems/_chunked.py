"""Sans-I/O decoder of an HTTP/1.1 message body: chunked (RFC 9112 section 7.1), sized, or read to close.

Event streams are read below httpx (see `_body.py`): h11 spends most of a stream's CPU making one event
per HTTP chunk, and the real server sends one chunk per server-sent event. This decoder turns whole
network reads (up to 256 KiB, many chunks) into body bytes at once. It is as strict as h11 where it
matters: a malformed size line or a missing CRLF after a chunk is a protocol error, and so is a body
that ends before its terminating chunk (or its Content-Length). Bytes after the end of the body are
not the body's: they are counted in `overflow` and ignored.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["BodyDecoder", "BodyProtocolError"]

_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
_MAX_LINE: Final = 16 * 1024  # a size or trailer line longer than this is refused (h11 allows 16 KiB too)

_SIZE: Final = 0  # at a chunk-size line
_DATA: Final = 1  # inside a chunk's data
_CRLF: Final = 2  # at the CRLF that ends a chunk's data
_TRAILER: Final = 3  # after the last chunk: trailer lines up to a blank one
_DONE: Final = 4


class BodyProtocolError(Exception):
    """The body breaks HTTP/1.1 framing (`truncated` when the connection closed before its end)."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


class BodyDecoder:
    """Body bytes out of the bytes that follow a response's headers.

    `BodyDecoder("chunked")`, `BodyDecoder("length", length=N)` or `BodyDecoder("close")`; `feed(data)`
    returns the body bytes `data` completes, `done` tells that the body is complete (bytes after it are
    counted in `overflow` and ignored), `end()` is called at EOF.
    """

    __slots__ = ("_buffer", "_left", "_state", "framing", "overflow")

    def __init__(self, framing: str, *, length: int | None = None) -> None:
        if framing not in ("chunked", "length", "close"):
            raise ValueError(f"unknown body framing {framing!r}")
        if framing == "length" and (length is None or length < 0):
            raise ValueError("a sized body needs its length")
        self.framing = framing  #: chunked, length or close
        self._buffer = b""
        self._left = length or 0  # bytes left in the current chunk's data (or the sized body)
        self._state = _DONE if framing == "length" and not length else _SIZE
        #: Bytes received after the end of the body (ignored; a well-behaved server sends none).
        self.overflow = 0

    @property
    def done(self) -> bool:
        """Whether the whole body was read."""
        return self._state == _DONE

    @property
    def at_chunk_start(self) -> bool:
        """Whether the next byte fed starts a chunk-size line (chunked bodies only)."""
        return self._state == _SIZE and not self._buffer and self.framing == "chunked"

    def to_chunk_end(self) -> int | None:
        """How many more bytes end the chunk in progress, after which the decoder is at a chunk's
        start (None when it is not inside a chunk's data or its CRLF)."""
        if self.framing != "chunked":
            return None
        if self._state == _DATA:
            return self._left + 2
        if self._state == _CRLF:
            return 2 - len(self._buffer)
        return None

    def feed(self, data: bytes) -> bytes:
        """The body bytes that `data` (the next bytes from the connection) carries."""
        if self._state == _DONE:
            self.overflow += len(data)
            return b""  # what follows the body is not the body's
        if self.framing == "close":
            return data
        if self.framing == "length":
            if len(data) > self._left:
                self.overflow += len(data) - self._left
                data = data[: self._left]
            self._left -= len(data)
            if not self._left:
                self._state = _DONE
            return data
        return self._feed_chunked(data)

    def completion(self, *, max_filler: int = 1 << 20) -> bytes | None:
        """Bytes that, after what was fed so far, end a chunked message at the nearest point (None when
        that needs more than `max_filler` filler bytes, or is not a chunked body in progress).

        The data of a chunk left open is filled with `x`, a size line left open is ended as it stands,
        and the terminating chunk follows (a trailer line left open has none). A parser fed what this
        decoder was fed, then this, is at the end of the message: that is how h11 is brought to the end
        of a body read without it (`_body.hand_back`).
        """
        if self.framing != "chunked":
            return None
        state, partial = self._state, self._buffer
        if state == _DONE:
            return b""
        if state == _TRAILER:  # the blank line (a trailer line left open: no completion)
            return b"\r\n" if not partial else b"\n" if partial == b"\r" else None
        if state == _CRLF:
            return b"\n0\r\n\r\n" if partial else b"\r\n0\r\n\r\n"
        if state == _DATA:
            left, head = self._left, b""
        else:  # at a size line, maybe part of one
            if not partial:
                return b"0\r\n\r\n"
            head = b"\n" if partial.endswith(b"\r") else b"\r\n"
            line = partial.rstrip(b"\r").partition(b";")[0].rstrip(b" \t")
            if _HEX.fullmatch(line) is None:
                return None
            left = int(line, 16)
            if not left:
                return head + b"\r\n"
        if left > max_filler:
            return None
        return head + b"x" * left + b"\r\n0\r\n\r\n"

    def end(self) -> None:
        """At EOF: raise BodyProtocolError(truncated=True) unless the body is complete."""
        if self._state == _DONE or self.framing == "close":
            self._state = _DONE
            return
        what = "incomplete chunked read" if self.framing == "chunked" else f"{self._left} bytes missing"
        raise BodyProtocolError(
            f"peer closed connection without sending complete message body: {what}", truncated=True
        )

    def _feed_chunked(self, data: bytes) -> bytes:
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        out: list[bytes] = []
        pos = 0
        end = len(data)
        state = self._state
        left = self._left
        find = data.find
        hex_match = _HEX.fullmatch
        while pos < end:
            if state == _SIZE:
                eol = find(b"\r\n", pos)
                if eol < 0:
                    if end - pos > _MAX_LINE:
                        raise BodyProtocolError("a chunk-size line is too long")
                    self._buffer = data[pos:]
                    break
                line = data[pos:eol]
                if b";" in line:  # chunk extensions are allowed, and ignored
                    line = line.partition(b";")[0]
                line = line.rstrip(b" \t")
                if hex_match(line) is None:
                    raise BodyProtocolError(f"bad chunk-size line {data[pos:eol][:40]!r}")
                left = int(line, 16)
                pos = eol + 2
                state = _DATA if left else _TRAILER
            elif state == _DATA:
                stop = pos + left
                if stop <= end:
                    out.append(data[pos:stop])
                    pos = stop
                    left = 0
                    state = _CRLF
                else:
                    out.append(data[pos:])
                    left = stop - end
                    pos = end
            elif state == _CRLF:
                if end - pos < 2:
                    if data[pos:] != b"\r":
                        raise BodyProtocolError("a chunk's data is not followed by CRLF")
                    self._buffer = data[pos:]
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise BodyProtocolError("a chunk's data is not followed by CRLF")
                pos += 2
                state = _SIZE
            elif state == _TRAILER:
                eol = find(b"\r\n", pos)
                if eol < 0:
                    if end - pos > _MAX_LINE:
                        raise BodyProtocolError("a trailer line is too long")
                    self._buffer = data[pos:]
                    break
                blank = eol == pos
                pos = eol + 2
                if blank:
                    state = _DONE
                    self.overflow += end - pos
                    break  # what follows the body is not the body's
        self._state = state
        self._left = left
        if not out:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)
