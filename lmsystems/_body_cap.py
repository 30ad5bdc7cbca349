"""Read a body with a cap on what it decodes to, compressed or not (pure: the caller reads the bytes).

httpx decompresses a whole network read at once, so 64 KiB of a gzip bomb become 64 MB in one call and a
1 GB bomb grows the process by gigabytes. Here each compressed read is inflated with `max_length`, so
no more than the cap (plus one read) is ever held: a JSON answer over its cap is refused, an error body
is cut (its beginning says enough). Only the encodings we ask for (`ACCEPT_ENCODING`) are decoded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ERROR_BODY_BYTES",
    "BodyCap",
    "Inflater",
    "UnsupportedEncodingError",
    "human_bytes",
    "inflater",
]

#: What we tell servers we can decode (httpx would also announce br/zstd when those packages exist).
ACCEPT_ENCODING = "gzip, deflate"
#: The default largest JSON answer, decoded (a client setting: `max_response_bytes`).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: How much of an error body is read (decoded) to describe it; the rest is not read.
ERROR_BODY_BYTES = 1024 * 1024


class UnsupportedEncodingError(ValueError):
    """The server compressed the body with an encoding we did not ask for."""


def human_bytes(size: int) -> str:
    """`64 MiB`, `1 MiB`, `512 KiB`, `300 bytes`."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size:,} bytes"


#: The most one decompression call produces: a bomb never inflates by more at once.
PIECE = 64 * 1024


class Inflater:
    """gzip or deflate (zlib-wrapped, or raw as some servers send it), inflated a piece at a time."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._raw_tried = False
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)

    def _decompress(self, data: bytes) -> bytes:
        try:
            return self._zlib.decompress(data, PIECE)
        except zlib.error:
            if self._gzip or self._raw_tried:
                raise
            self._raw_tried = True  # "deflate" without the zlib wrapper: what httpx accepts too
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._zlib.decompress(data, PIECE)

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of `data`, at most PIECE at a time (the next is made when asked for)."""
        while data:
            piece = self._decompress(data)
            data = self._zlib.unconsumed_tail
            if piece:
                yield piece


def inflater(content_encoding: str | None) -> Inflater | None:
    """The decoder for an answer's `Content-Encoding` (None: not encoded); UnsupportedEncodingError for
    an encoding we did not ask for."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return Inflater(encoding)
    raise UnsupportedEncodingError(f"a body encoded as {encoding[:40]!r}, which we did not ask for")


class BodyCap:
    """Collects a body's decoded bytes up to `limit`; `feed()` says False once the cap is passed.

    `content_encoding` is the answer's header (None or `identity` for none). A corrupt compressed body
    raises `zlib.error`; an encoding we did not ask for raises UnsupportedEncodingError.
    """

    __slots__ = ("_inflater", "_pieces", "_size", "limit", "over")

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self._inflater = inflater(content_encoding)
        self.limit = limit
        self.over = False
        # Pieces, joined once at the end: a growing bytearray over-allocates (1/8) as it grows, which
        # a body at the cap pays for.
        self._pieces: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> bool:
        """Add raw (still encoded) bytes; False once the decoded body passed the cap (stop reading)."""
        for piece in (data,) if self._inflater is None else self._inflater.pieces(data):
            room = self.limit - self._size
            if len(piece) > room:
                self._pieces.append(piece[:room])
                self._size = self.limit
                self.over = True
                return False
            self._pieces.append(piece)
            self._size += len(piece)
        return True

    @property
    def buffer(self) -> bytes:
        """The decoded body (its first `limit` bytes when it was over the cap)."""
        pieces = self._pieces
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._pieces = [body]
        return body
