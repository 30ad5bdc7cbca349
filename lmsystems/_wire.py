"""Server-sent events straight from the bytes of a chunked HTTP/1.1 body (pure: the caller reads).

The Agent Server sends one HTTP chunk per event, always in one shape: `event: E` CRLF, `data: D` CRLF,
maybe `id: I` CRLF, then CRLF. Decoding that in two layers (`BodyDecoder` joins the chunks' data,
`SSEDecoder` splits it into lines again) costs more than the JSON of a small event.
`chunked_events()` decodes a whole chunk holding exactly one such event in one pass over the network
read, with single-byte searches and no copy of the body. Everything else (a chunk cut by the read,
a heartbeat comment, the last chunk, any other layout) goes through the two decoders, which then stand
exactly where the fast path expects them: the events, ids and errors are the same either way.
"""

from __future__ import annotations

import re
from typing import Final

from ._chunked import BodyDecoder
from ._sse import ServerSentEvent, SSEDecodeError, SSEDecoder

__all__ = ["chunked_events"]

_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
_LIMIT: Final = 4096  # entries of each cache below
_new_event = tuple.__new__

#: Chunk-size lines seen (bytes -> size), only plain non-zero hex sizes.
_SIZES: dict[bytes, int] = {}
#: Event heads seen (`event: NAME` CRLF `data: ` -> NAME), only names without CR or LF, valid UTF-8.
_HEADS: dict[bytes, str] = {}


def _size(line: bytes) -> int | None:
    if _HEX.fullmatch(line) is None:
        return None
    size = int(line, 16)
    if not size:
        return None  # the last chunk: the decoders end the body
    if len(_SIZES) < _LIMIT:
        _SIZES[line] = size
    return size


def _head(head: bytes) -> str | None:
    """The event name of `event: NAME` CRLF `data: ` (the start of the server's events), or None."""
    if not (head.startswith(b"event: ") and head.endswith(b"\r\ndata: ")):
        return None
    raw = head[7:-8]
    if b"\r" in raw or b"\n" in raw:
        return None
    try:
        name = raw.decode() or "message"
    except UnicodeDecodeError:
        return None
    if len(_HEADS) < _LIMIT:
        _HEADS[head] = name
    return name


def chunked_events(data: bytes, body: BodyDecoder, sse: SSEDecoder) -> list[ServerSentEvent]:
    """The events that `data`, the next bytes of a chunked body, completes; `body` and `sse` are the
    stream's decoders (they raise what they raise: BodyProtocolError, SSEDecodeError with the events
    before the error)."""
    out: list[ServerSentEvent] = []
    end = len(data)
    pos = 0
    try:
        if not (body.at_chunk_start and sse.at_boundary):
            # Finish the chunk the last read cut, through the decoders.
            pos = body.to_chunk_end() or end
            if pos >= end:
                return sse.feed(body.feed(data))
            out = sse.feed(body.feed(data[:pos]))
            if not (body.at_chunk_start and sse.at_boundary):
                out.extend(sse.feed(body.feed(data[pos:])))
                return out
        find = data.find
        startswith = data.startswith
        sizes = _SIZES
        heads = _HEADS
        append = out.append
        limit = sse.max_event_bytes
        last_id = sse.last_event_id
        last_raw_id: bytes | None = None
        head = b"\n"  # the head of the event before (`event: NAME` CRLF `data: `), its length and name
        head_length = 1
        head_name: str | None = None
        while pos < end:
            eol = find(b"\r\n", pos, pos + 18)
            if eol < 0:
                break
            line = data[pos:eol]
            size = sizes.get(line) or _size(line)
            if size is None:
                break
            start = eol + 2
            stop = start + size
            if stop + 2 > end:
                break  # the read cut this chunk
            if size <= limit and startswith(b"\r\n\r\n\r\n", stop - 4):
                # One chunk ending with a blank line: is it one event in the server's shape?
                if startswith(head, start, stop):  # the same head as the event before (a name has no LF)
                    data_at = start + head_length
                    name = head_name
                else:
                    data_at = find(b"\n", start, stop) + 7
                    name = heads.get(data[start:data_at]) or _head(data[start:data_at])
                    if name is not None:
                        head = data[start:data_at]
                        head_length = len(head)
                        head_name = name
                data_end = find(b"\n", data_at, stop)
                if name is not None and data[data_end - 1] == 13 and find(b"\r", data_at, data_end - 1) < 0:
                    after = data_end + 1
                    raw_id: bytes | None = None
                    plain = True
                    if after != stop - 2:  # not the blank line yet: it must be one `id: ` line
                        raw_id = data[after + 4 : stop - 4]
                        plain = startswith(b"id: ", after) and (
                            raw_id == last_raw_id  # the id of the event before, already checked
                            or (
                                find(b"\n", after, stop) == stop - 3
                                and b"\r" not in raw_id
                                and 0 not in raw_id
                            )
                        )
                    if plain:
                        try:
                            text = data[data_at : data_end - 1].decode()
                            if raw_id is not None and raw_id != last_raw_id:
                                last_id = raw_id.decode() or None
                                last_raw_id = raw_id
                        except UnicodeDecodeError:
                            pass  # the decoders say where
                        else:
                            append(_new_event(ServerSentEvent, (name, text, last_id, None)))
                            pos = stop + 2
                            continue
            # A whole chunk of another shape (a heartbeat, ...): through the decoders.
            sse.last_event_id = last_id
            out.extend(sse.feed(body.feed(data[pos : stop + 2])))
            last_id = sse.last_event_id
            last_raw_id = None
            pos = stop + 2
            if not (body.at_chunk_start and sse.at_boundary):
                break
        else:
            sse.last_event_id = last_id
            return out
        sse.last_event_id = last_id
        out.extend(sse.feed(body.feed(data[pos:])))
    except SSEDecodeError as error:
        error.events[:0] = out
        raise
    return out
