"""The one-pass decoding of chunked event streams (`lmsystems._wire`) equals the two decoders in layers.

Pure (no sockets): bodies built from chunks of every shape (the server's events with and without ids,
heartbeats, other field orders, LF or lone CR line ends, NUL or non-ASCII ids, invalid UTF-8, oversized
events, chunk extensions, events split over chunks), cut into reads at random points, must give the
same events, the same last event id and the same errors as `SSEDecoder.feed(BodyDecoder.feed(...))`.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lmsystems._chunked import BodyDecoder, BodyProtocolError
from lmsystems._sse import SSEDecodeError, SSEDecoder, SSEEventTooLargeError
from lmsystems._wire import chunked_events

EVENTS = [
    b'event: messages/partial\r\ndata: [{"content": "hi"}]\r\n\r\n',
    b'event: updates\r\ndata: {"agent": {"x": 1}}\r\nid: 1700000000000-0\r\n\r\n',
    b'event: updates\r\ndata: {"agent": {"x": 2}}\r\nid: 1700000000001-0\r\n\r\n',
    b'event: metadata\r\ndata: {"run_id": "r"}\r\n\r\n',
    b": heartbeat\r\n\r\n",
    b"event: values\r\ndata: \r\n\r\n",
    b"event: \r\ndata: 1\r\n\r\n",
    b"event:  spaced\r\ndata: 2\r\n\r\n",
    b"data: 3\r\nevent: reversed\r\n\r\n",
    b"event: lf\ndata: 4\n\n",
    b"event: cr\rdata: 5\r\r",
    b"event: mixed\r\ndata: 6\n\r\n",
    b"event: lone\r\ndata: a\rb\r\n\r\n",
    b"event: two\r\ndata: a\r\ndata: b\r\n\r\n",
    b"event: nul\r\ndata: 7\r\nid: a\x00b\r\n\r\n",
    b"event: emptyid\r\ndata: 8\r\nid: \r\n\r\n",
    b'event: unicode\r\ndata: "\xc3\xa9"\r\nid: \xc3\xa9\r\n\r\n',
    b'event: bad\r\ndata: "\xff"\r\n\r\n',
    b"event: \xff\r\ndata: 9\r\n\r\n",
    b"event: retry\r\ndata: 10\r\nretry: 500\r\n\r\n",
    b"event: idfirst\r\nid: 5\r\ndata: 11\r\n\r\n",
    b"event: twoids\r\ndata: 12\r\nid: 1\r\nid: 2\r\n\r\n",
    b"event: big\r\ndata: " + b"x" * 300 + b"\r\n\r\n",
    b"event: updates\r\ndata: 14\nid: 3\r\n\r\n",  # the head of an event before, then other shapes
    b"event: updates\r\ndata: \r\n\r\n",
    b"event: updates\r\ndata: 15\r\nid: 1700000000001-0\r\nretry: 5\r\n\r\n",
    b"event: updates\r\ndata: 16\r",
    b"event: open\r\ndata: 13\r\n",  # an event that the next chunk ends
    b"\r\n",
]


def chunk(payload: bytes, extension: bool) -> bytes:
    return b"%x%s\r\n%s\r\n" % (len(payload), b";x=1" if extension else b"", payload)


def decode(reads: list[bytes], *, fused: bool, max_event_bytes: int) -> tuple[Any, ...]:
    body, sse = BodyDecoder("chunked"), SSEDecoder(max_event_bytes=max_event_bytes)
    events: list[Any] = []
    try:
        for data in reads:
            events += chunked_events(data, body, sse) if fused else sse.feed(body.feed(data))
        body.end()
        sse.end()
    except SSEDecodeError as error:
        return ("sse", type(error), str(error), events + error.events, sse.last_event_id)
    except BodyProtocolError as error:
        return ("body", str(error), events)
    return ("ok", events, sse.last_event_id, body.done)


@settings(max_examples=400, deadline=None)
@given(
    picks=st.lists(st.tuples(st.integers(0, len(EVENTS) - 1), st.booleans(), st.integers(0, 3)), max_size=30),
    cuts=st.lists(st.integers(0, 4000), max_size=8),
    terminate=st.booleans(),
    max_event_bytes=st.sampled_from([16 * 1024 * 1024, 120]),
    broken=st.booleans(),
)
def test_fused_equals_layered(
    picks: list[tuple[int, bool, int]], cuts: list[int], terminate: bool, max_event_bytes: int, broken: bool
) -> None:
    # Some events are sent in pieces over several chunks.
    pieces = []
    for i, ext, spread in picks:
        payload = EVENTS[i]
        if spread:
            step = max(1, len(payload) // (spread + 1))
            pieces += [chunk(payload[k : k + step], ext) for k in range(0, len(payload), step)]
        else:
            pieces.append(chunk(payload, ext))
    wire = b"".join(pieces)
    if broken and wire:
        wire = wire[:-1] + b"!"  # a chunk not followed by CRLF
    if terminate:
        wire += b"0\r\n\r\n"
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    reads = [wire[a:b] for a, b in itertools.pairwise(points) if b > a]
    fused = decode(reads, fused=True, max_event_bytes=max_event_bytes)
    layered = decode(reads, fused=False, max_event_bytes=max_event_bytes)
    too_large = [r for r in (fused, layered) if r[0] == "sse" and r[1] is SSEEventTooLargeError]
    if fused[0] != "ok" and layered[0] != "ok" and (too_large or fused[0] != layered[0]):
        # How large the decoder saw a line or event, which events of the same read came before it, and
        # which of a broken event and a broken chunk after it is seen first depend on how the bytes
        # arrive (as with any two network reads): both refuse the stream.
        shorter, longer = sorted(
            (
                fused[-2] if fused[0] == "sse" else fused[-1],
                layered[-2] if layered[0] == "sse" else layered[-1],
            ),
            key=len,
        )
        assert longer[: len(shorter)] == shorter
    else:
        assert fused == layered


def test_server_shape_is_decoded_whole() -> None:
    """The Agent Server's chunks (one event each, ids included) go through the fast path: the
    decoders are fed nothing and stay at a boundary."""
    wire = b"".join(chunk(EVENTS[i], False) for i in (0, 1, 2, 3, 0))
    body, sse = BodyDecoder("chunked"), SSEDecoder()
    sse.feed(b": start\r\n\r\n")  # past the start of the stream
    events = chunked_events(wire, body, sse)
    assert [e.event for e in events] == [
        "messages/partial",
        "updates",
        "updates",
        "metadata",
        "messages/partial",
    ]
    first, second = "1700000000000-0", "1700000000001-0"
    assert [e.id for e in events] == [None, first, second, second, second]
    assert sse.last_event_id == "1700000000001-0"
    assert body.at_chunk_start and sse.at_boundary
