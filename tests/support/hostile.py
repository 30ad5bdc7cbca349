"""Answers a hostile server gives, as scripts for :mod:`support.bad_server` (real loopback sockets).

No pytest imports here. Each function returns a :class:`~support.bad_server.Reply` (or a handler) that
does what an attacker's server, or a broken proxy, would do to a client:

- :func:`deep_json` — 100,000 nested ``[``: a decoder that recurses falls over;
- :func:`gzip_bomb` — a body of about 1 MB on the wire that inflates to 1 GB (built in milliseconds:
  one self-contained deflate segment of a MiB of one byte, repeated);
- :func:`trickle` — the head, or the body, one byte a second: per-read timeouts never fire;
- :func:`silent_after_head` — the stream's head, then nothing, with the connection kept open;
- :func:`echo_keys` — an error whose body, request id and detail repeat the request's secret headers;
- :func:`sse_error_event` / :func:`sse_event_with_id` — an ``error`` event of any size, events with
  odd ids.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from functools import cache

from .bad_server import RecordedRequest, Reply, chunked_reply, json_reply, reply
from .wire import response_head

__all__ = [
    "ECHOED_HEADERS",
    "GIB",
    "MIB",
    "KeepAliveEventServer",
    "deep_json",
    "echo_keys",
    "gzip_bomb",
    "gzip_reply",
    "silent_after_head",
    "sse_error_event",
    "sse_event_with_id",
    "trickle",
]

MIB = 1024 * 1024
GIB = 1024 * MIB
#: The request headers :func:`echo_keys` sends back.
ECHOED_HEADERS = ("x-api-key", "authorization")


def deep_json(depth: int = 100_000, *, closed: bool = True) -> bytes:
    """``[[[ ... ]]]`` nested `depth` times (unclosed: only the opening brackets)."""
    return b"[" * depth + (b"]" * depth if closed else b"")


@cache
def gzip_bomb(size: int = GIB, *, fill: bytes = b"\0", prefix: bytes = b"") -> bytes:
    """A gzip member that inflates to `prefix` followed by `fill` up to `size` bytes in all.

    The deflate data is one segment (a MiB of `fill`, ended by a full flush, so it refers to nothing
    before it) repeated; the trailer carries the true CRC and length, so the member is valid.
    """
    assert len(fill) == 1 and size % MIB == 0 and len(prefix) < MIB
    block = fill * MIB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(prefix + block[len(prefix) :]) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)
    count = size // MIB
    crc = zlib.crc32(prefix + block[len(prefix) :])
    for _ in range(count - 1):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
    return header + first + segment * (count - 1) + tail + trailer


def gzip_reply(
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An answer whose (already gzip-compressed) body says ``Content-Encoding: gzip``."""
    return reply(
        status, body, content_type=content_type, headers={"Content-Encoding": "gzip", **(headers or {})}
    )


def trickle(
    status: int = 200,
    body: bytes = b'{"thread_id": "t1"}',
    *,
    head: bool = True,
    content_type: str = "application/json",
    interval: float = 1.0,
    limit: int = 3600,
) -> Reply:
    """An answer sent one byte every `interval` seconds: its head (``head=True``) or its body.

    At most `limit` bytes are trickled, which at one a second outlasts any test.
    """
    fields = [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Connection", "close")]
    data = response_head(status, None, fields) + body
    slow_from = 0 if head else len(data) - len(body)
    pieces: list[bytes | float] = [data[:slow_from]] if slow_from else []
    for index in range(slow_from, min(len(data), slow_from + limit)):
        pieces += [data[index : index + 1], interval]
    return Reply(tuple(pieces))


def silent_after_head(
    status: int = 200,
    *,
    content_type: str = "text/event-stream; charset=utf-8",
    headers: Mapping[str, str] | None = None,
    first: bytes = b"",
    forever: float = 3600.0,
) -> Reply:
    """A chunked head (and optionally a `first` chunk), then nothing while the connection stays open."""
    fields = [("Content-Type", content_type), ("Transfer-Encoding", "chunked")]
    fields += list((headers or {}).items())
    pieces: list[bytes | float] = [response_head(status, None, fields)]
    if first:
        pieces.append(f"{len(first):x}\r\n".encode() + first + b"\r\n")
    pieces.append(forever)
    return Reply(tuple(pieces))


def echo_keys(status: int = 500) -> Callable[[RecordedRequest], Reply]:
    """An error that repeats the request's secrets in its body, its detail and its request id."""

    def answer(request: RecordedRequest) -> Reply:
        secrets = {name: request.headers.get(name, "") for name in ECHOED_HEADERS}
        shown = " ".join(value for value in secrets.values() if value)
        body = {"detail": f"bad key {shown}", "echo": secrets, "nested": [[{"k": shown}]]}
        request_id = shown.replace(" ", "-").removeprefix("Bearer-") or "none"
        return json_reply(status, body, headers={"x-request-id": request_id})

    return answer


def sse_error_event(
    message: str,
    *,
    error: str = "ValueError",
    before: Iterable[bytes] = (),
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A 200 stream that sends `before`, then ``event: error`` with `message`.

    Its `headers` name run r1 on thread t1 (``Location``) unless given.
    """
    data = json.dumps({"error": error, "message": message}).encode()
    chunks = [*before, b"event: error\ndata: " + data + b"\n\n"]
    if headers is None:
        headers = {"Location": "/threads/t1/runs/r1/stream"}
    return chunked_reply(200, chunks, headers=headers, pause=0.0)


def sse_event_with_id(event_id: bytes, *, then_drop: bool = True) -> Reply:
    """A 200 stream of a run on a thread: an event carrying `event_id`, one with the id ``9-0``; then
    the connection drops (``then_drop``: cut inside the body), so that the client resumes from
    `event_id` (the last id before the trailing run of equal ids, see `lmsystems._resume`)."""
    chunks = [
        b'event: metadata\ndata: {"run_id": "r1"}\n\n',
        b"id: " + event_id + b'\nevent: values\ndata: {"n": 1}\n\n',
        b'id: 9-0\nevent: values\ndata: {"n": 2}\n\n',
    ]
    return chunked_reply(
        200, chunks, headers={"Location": "/threads/t1/runs/r1/stream"}, complete=not then_drop, pause=0.0
    )


class KeepAliveEventServer:
    """An asyncio server (in a thread of its own) that answers every request to a ``.../stream`` path on
    a kept-alive connection with a short event stream: `events` events, `pause` seconds apart, then the
    end of the body; any other request with ``[]``.

    It counts what the client did with its connections: ``accepted``, ``open`` (not yet closed by either
    side), and ``requests``. Use as a context manager; ``url`` is where it listens.
    """

    def __init__(self, *, events: int = 20, pause: float = 0.002) -> None:
        self.events = events
        self.pause = pause
        self.accepted = 0
        self.open = 0
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keep-alive-events", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.url = ""

    def __enter__(self) -> KeepAliveEventServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                target = head.split(b" ", 2)[1]
                if not target.split(b"?")[0].endswith(b"/stream"):  # e.g. the client's first probe
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"
                    )
                    await writer.drain()
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                    b"Location: /threads/t1/runs/r1/stream\r\n\r\n"
                )
                for index in range(self.events):
                    event = b'event: metadata\ndata: {"run_id": "r1", "n": %d}\n\n' % index
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                    await asyncio.sleep(self.pause)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass  # the client closed the connection (or gave up on a stream): its right
        except asyncio.CancelledError:
            pass  # the server stops
        finally:
            self.open -= 1
            writer.close()
