"""A fault-injecting HTTP/1.1 proxy in front of the real Agent Server, for reliability tests.

It parses each HTTP/1.1 request (keep-alive connections included), re-issues it upstream with httpx and
streams the upstream body back with chunked encoding, chunk by chunk as it arrives (SSE stays live). A
:class:`FaultPlan` (thread-safe, seeded ``random.Random``) says which requests to break and how:

* request faults, consumed in the order they were added, each for ``times`` matching requests
  (``times=None``: every one): :meth:`FaultPlan.fail` answers a status of its own (e.g. 503 with
  ``Retry-After: 0`` or ``retry-after-ms``, :meth:`FaultPlan.bad_gateway_html` an HTML 502 page) without
  forwarding; :meth:`FaultPlan.disconnect` reads the request and closes the connection without an answer;
  :meth:`FaultPlan.lose_answer` forwards it, waits for the answer and closes without passing it on;
  :meth:`FaultPlan.delay` forwards the request only after a while; :meth:`FaultPlan.stall` sends nothing
  for ``seconds`` (or until the client gives up), or, with ``after_headers=True``, forwards the request,
  relays the upstream headers and then sends nothing but ``: heartbeat`` comments (or nothing at all)
  instead of the body;
* stream cuts, consumed one per streaming (``text/event-stream``) response: a :class:`Cut` either drops
  the connection (FIN, no chunked terminator: the client sees an incomplete body) or closes the stream
  cleanly (a proper ``0\\r\\n\\r\\n`` terminator, so the response looks complete) after a number of body
  bytes, after a number of complete events of that response, or once a number of distinct events have
  gone through the proxy (over all responses of the plan, replays not counted), plus ``inner`` bytes into
  the next block. :meth:`FaultPlan.drop_streams` makes seeded drops spread over a whole stream.

Every request is recorded (:class:`RecordedRequest`: method, path, headers with secrets redacted,
``Last-Event-ID``, the fault applied, the status and body bytes sent, whether and how a stream was cut).
When the client goes away while a response is being relayed, the upstream response is closed at once, so
the Agent Server sees the disconnect as it would without the proxy.

    plan = FaultPlan(seed=1).fail(503, times=2, method="GET", headers={"retry-after": "0"})
    with start_fault_proxy(agent_server.url, plan) as proxy:
        ...  # point a client at proxy.url
        assert len(plan.requests_to("GET", THREAD)) == 3

Given several upstreams (``start_fault_proxy([url1, url2], plan)``) the proxy is a round-robin load
balancer: each request goes to the next upstream in turn, or to the following one when that one cannot be
connected to; the record says which upstream answered (``RecordedRequest.upstream``).
:meth:`RunningProxy.drop_connections` aborts every open client connection on command,
:meth:`RunningProxy.use_plan` and :meth:`RunningProxy.use_upstreams` change the plan and the upstreams.

No pytest imports: scripts can use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

import httpx

from .wire import BadRequestHead, parse_request_head, response_head

__all__ = [
    "JOIN_STREAM",
    "RUN",
    "RUNS",
    "RUN_STREAM",
    "STATELESS_STREAM",
    "THREAD",
    "Cut",
    "FaultPlan",
    "RecordedRequest",
    "RunningProxy",
    "start_fault_proxy",
]

#: Path patterns (full match, without the query) of the Agent Server routes the tests break most.
THREAD = r"/threads/[^/]+"
RUNS = r"/threads/[^/]+/runs"
RUN = r"/threads/[^/]+/runs/[^/]+"
RUN_STREAM = r"/threads/[^/]+/runs/stream"
JOIN_STREAM = r"/threads/(?P<thread>[^/]+)/runs/(?!stream$)(?P<run>[^/]+)/stream"
STATELESS_STREAM = r"/runs/stream"

SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"})
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "host",
        "accept-encoding",
    }
)
HEARTBEAT = b": heartbeat\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_REQUESTS_PER_CONNECTION = 10_000
KEEPALIVE_IDLE = 120.0  # seconds a kept-alive connection may wait for its next request
MAX_RESPONSE_SECONDS = 300.0  # a relayed response never lasts longer
UPSTREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=30.0)
_BLOCK_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


# ---------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Cut:
    """Where and how to end one streaming response early.

    Exactly one of: ``offset`` (after that many body bytes of the response; 0 is right after the
    headers), ``after_events`` (after that many complete events of the response), ``after_new_events``
    (as soon as that many distinct events have gone through the proxy for the plan, counting replayed
    ones once). With the last two, the cut falls ``inner`` bytes into the block that follows (0: between
    events; a few bytes: inside the next event, before its ``id:`` line). ``kind="drop"`` closes the
    connection without the chunked terminator; ``kind="close"`` ends the response cleanly.
    """

    kind: Literal["drop", "close"] = "drop"
    offset: int | None = None
    after_events: int | None = None
    after_new_events: int | None = None
    inner: int = 0

    def __post_init__(self) -> None:
        given = [v for v in (self.offset, self.after_events, self.after_new_events) if v is not None]
        if len(given) != 1 or given[0] < 0 or self.inner < 0:
            raise ValueError(f"a Cut needs exactly one non-negative position: {self!r}")
        if self.kind not in ("drop", "close"):
            raise ValueError(f"Cut.kind must be 'drop' or 'close', not {self.kind!r}")


@dataclass(frozen=True)
class _Respond:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class _Disconnect:
    pass


@dataclass(frozen=True)
class _LoseAnswer:
    pass


@dataclass(frozen=True)
class _Delay:
    seconds: float


@dataclass(frozen=True)
class _Stall:
    seconds: float
    after_headers: bool
    heartbeat_every: float | None


_Action = _Respond | _Disconnect | _LoseAnswer | _Delay | _Stall


@dataclass
class _Match:
    method: str | None
    path: re.Pattern[str] | None

    def __call__(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.fullmatch(path) is not None


@dataclass
class _Rule:
    name: str
    match: _Match
    remaining: int | None
    action: _Action


@dataclass
class RecordedRequest:
    """One request the proxy received, and what it did with it (fields fill in as the answer goes out)."""

    index: int
    connection: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    last_event_id: str | None
    started: float
    fault: str | None = None
    status: int | None = None
    stream: bool = False
    body_bytes: int = 0
    events: int = 0
    cut: str | None = None  # "drop" or "close" when a Cut was applied
    cut_at: int | None = None  # body bytes sent when it was
    client_gone: bool = False  # the client went away before the answer was complete
    ended: float | None = None
    upstream: str | None = None  # the upstream (replica) that answered, when forwarded

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


class FaultPlan:
    """What the proxy breaks, and the record of what it saw. Thread-safe; ``rng`` is seeded."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._cuts: list[tuple[_Match, Cut]] = []
        self._records: list[RecordedRequest] = []
        self._seen_events: set[tuple[bytes, int]] = set()
        self._counter = itertools.count()

    # -- configuring --------------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        content_type: str = "application/json",
    ) -> FaultPlan:
        """Answer ``status`` (without forwarding) to the next ``times`` matching requests."""
        if body is None:
            body = b'{"detail":"injected by the fault proxy"}'
        data = body.encode() if isinstance(body, str) else body
        head = {"content-type": content_type, **{k.lower(): v for k, v in (headers or {}).items()}}
        action = _Respond(status, tuple(head.items()), data)
        return self._add(f"status {status}", method, path, times, action)

    def fail_503(
        self,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: str | None = "0",
        retry_after_ms: str | None = None,
        should_retry: bool | None = None,
    ) -> FaultPlan:
        """503 Service Unavailable, with ``Retry-After`` / ``retry-after-ms`` / ``x-should-retry``."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms
        if should_retry is not None:
            headers["x-should-retry"] = "true" if should_retry else "false"
        return self.fail(503, times=times, method=method, path=path, headers=headers)

    def bad_gateway_html(
        self,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        title: str = "502 Bad Gateway",
    ) -> FaultPlan:
        """The HTML 502 page a load balancer answers when the app behind it is down."""
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return self.fail(502, times=times, method=method, path=path, body=page, content_type="text/html")

    def disconnect(
        self, *, times: int | None = 1, method: str | None = None, path: str | None = None
    ) -> FaultPlan:
        """Read the request, then close the connection without answering (it never reaches upstream)."""
        return self._add("disconnect", method, path, times, _Disconnect())

    def lose_answer(
        self, *, times: int | None = 1, method: str | None = None, path: str | None = None
    ) -> FaultPlan:
        """Forward the request and wait for the whole answer, then close the connection without passing
        it on: the server acted, the client cannot know (a replica dying right after it acted)."""
        return self._add("lose answer", method, path, times, _LoseAnswer())

    def delay(
        self, seconds: float, *, times: int | None = 1, method: str | None = None, path: str | None = None
    ) -> FaultPlan:
        """Forward the request only after ``seconds`` (a slow network or a busy load balancer)."""
        return self._add(f"delay {seconds:g} s", method, path, times, _Delay(seconds))

    def stall(
        self,
        seconds: float,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        after_headers: bool = False,
        heartbeat_every: float | None = None,
    ) -> FaultPlan:
        """Send nothing for ``seconds`` (or until the client gives up), then close the connection.

        With ``after_headers``, the request is forwarded and the upstream status and headers relayed
        first; then, instead of the body, only ``: heartbeat`` comments every ``heartbeat_every``
        seconds (None: nothing at all).
        """
        action = _Stall(seconds, after_headers, heartbeat_every)
        name = "stall after headers" if after_headers else "stall"
        if heartbeat_every is not None:
            name += " (heartbeats)"
        return self._add(name, method, path, times, action)

    def cut_streams(self, *cuts: Cut, method: str | None = None, path: str | None = None) -> FaultPlan:
        """Apply ``cuts`` in order, one per matching streaming response."""
        match = _match(method, path)
        with self._lock:
            self._cuts.extend((match, cut) for cut in cuts)
        return self

    def drop_streams(
        self,
        drops: int,
        *,
        span_events: int,
        method: str | None = None,
        path: str | None = None,
        max_inner: int = 80,
    ) -> list[Cut]:
        """Seeded drops spread over a whole stream of about ``span_events`` events; returns them.

        The first drop is right after the headers of the first stream response, the second inside the
        first event of the next one (before its ``id:`` line); the others fall at random event positions
        across the stream (sorted, so that each happens), at random byte offsets (``max_inner`` at most)
        into the block that follows. Positions stay below ``span_events - 1``: a replay from the start
        does not resend the ``metadata`` event, so the proxy may see one event fewer than the stream has.
        Each cut then falls before the stream's last event is complete, so all ``drops`` happen.
        """
        if drops < 1 or span_events < 3:
            raise ValueError("drop_streams needs drops >= 1 and span_events >= 3")
        with self._lock:
            rng = self.rng
            cuts = [Cut("drop", after_new_events=0, inner=0)]
            if drops > 1:
                cuts.append(Cut("drop", after_new_events=0, inner=rng.randint(1, 40)))
            positions = sorted(rng.randrange(1, span_events - 1) for _ in range(drops - len(cuts)))
            cuts += [Cut("drop", after_new_events=p, inner=rng.randint(0, max_inner)) for p in positions]
        self.cut_streams(*cuts, method=method, path=path)
        return cuts

    def _add(
        self, name: str, method: str | None, path: str | None, times: int | None, action: _Action
    ) -> FaultPlan:
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        with self._lock:
            self._rules.append(_Rule(name, _match(method, path), times, action))
        return self

    def clear(self) -> None:
        """Forget the faults not yet used (the record stays)."""
        with self._lock:
            self._rules.clear()
            self._cuts.clear()

    # -- the record ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._records)

    def requests_to(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """The requests that match ``method`` and the ``path`` pattern (full match)."""
        match = _match(method, path)
        return [r for r in self.requests if match(r.method, r.path)]

    def stream_responses(self) -> list[RecordedRequest]:
        """The requests answered with an event stream."""
        return [r for r in self.requests if r.stream]

    def cuts_applied(self, kind: str | None = None) -> list[RecordedRequest]:
        """The stream responses that were cut (of ``kind`` "drop" or "close", or either)."""
        return [r for r in self.requests if r.cut is not None and (kind is None or r.cut == kind)]

    def pending_cuts(self) -> int:
        with self._lock:
            return len(self._cuts)

    # -- used by the proxy --------------------------------------------------------------------------

    def _record(self, connection: int, request: _Request) -> RecordedRequest:
        headers = {
            name: ("[redacted]" if name in SECRET_HEADERS else value) for name, value in request.headers
        }
        record = RecordedRequest(
            index=next(self._counter),
            connection=connection,
            method=request.method,
            path=request.path,
            query=request.query,
            headers=headers,
            last_event_id=headers.get("last-event-id"),
            started=time.monotonic(),
        )
        with self._lock:
            self._records.append(record)
        return record

    def _take_rule(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.match(method, path):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining == 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def _take_cut(self, method: str, path: str) -> Cut | None:
        with self._lock:
            for index, (match, cut) in enumerate(self._cuts):
                if match(method, path):
                    del self._cuts[index]
                    return cut
        return None

    def _note_event(self, key: tuple[bytes, int]) -> None:
        with self._lock:
            self._seen_events.add(key)

    def _new_events(self) -> int:
        with self._lock:
            return len(self._seen_events)


def _match(method: str | None, path: str | None) -> _Match:
    return _Match(method.upper() if method else None, re.compile(path) if path is not None else None)


# ---------------------------------------------------------------------------------------------- the wire


@dataclass
class _Request:
    method: str
    target: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class _ProtocolError(Exception):
    pass


class _Wire:
    """One client connection: buffered reads (the disconnect watcher may read ahead) and writes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.eof = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    async def read_until(self, separator: bytes, limit: int) -> bytes | None:
        """Up to and including ``separator``; None at EOF before any byte."""
        while True:
            index = self.buffer.find(separator)
            if index >= 0:
                end = index + len(separator)
                data = bytes(self.buffer[:end])
                del self.buffer[:end]
                return data
            if len(self.buffer) > limit:
                raise _ProtocolError("request head too large")
            if not await self._fill():
                if self.buffer:
                    raise _ProtocolError("connection closed inside a request head")
                return None

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not await self._fill():
                raise _ProtocolError("connection closed inside a request body")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def until_client_gone(self) -> None:
        """Returns when the client closed its side (bytes it sends meanwhile are kept for later)."""
        while await self._fill():
            if len(self.buffer) > MAX_BODY_BYTES:
                raise _ProtocolError("the client sent too much while waiting for an answer")

    async def send(self, data: bytes) -> None:
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def send_chunk(self, data: bytes) -> None:
        if data:
            await self.send(b"%x\r\n%b\r\n" % (len(data), data))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


async def _read_request(wire: _Wire) -> _Request | None:
    head = await wire.read_until(b"\r\n\r\n", MAX_HEAD_BYTES)
    if head is None:
        return None
    try:
        method, target, headers = parse_request_head(head)
    except BadRequestHead as error:
        raise _ProtocolError(str(error)) from None
    path, _, query = target.partition("?")
    request = _Request(method, target, path, query, headers, b"")
    length = request.header("content-length")
    if length is not None:
        size = int(length)
        if size > MAX_BODY_BYTES:
            raise _ProtocolError("request body too large")
        request.body = await wire.read_exactly(size)
    elif (request.header("transfer-encoding") or "").lower() == "chunked":
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = await wire.read_until(b"\r\n", 1024)
            if size_line is None:
                raise _ProtocolError("connection closed inside a chunked body")
            size = int(size_line.split(b";")[0].strip(), 16)
            total += size
            if total > MAX_BODY_BYTES:
                raise _ProtocolError("request body too large")
            if size == 0:
                while (await wire.read_until(b"\r\n", 8192)) not in (b"\r\n", None):
                    pass  # trailers
                break
            parts.append(await wire.read_exactly(size))
            await wire.read_exactly(2)
        request.body = b"".join(parts)
    return request


_REASONS = {409: "Conflict", 429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable"}


class _Cutter:
    """Follows the blocks of one event stream as it is relayed and says where a Cut falls."""

    def __init__(self, plan: FaultPlan, cut: Cut | None) -> None:
        self.plan = plan
        self.cut = cut
        self.sent = 0  # body bytes passed on
        self.block = bytearray()  # the current, incomplete block
        self.events = 0  # complete events of this response
        self.occurrences: dict[bytes, int] = {}  # equal blocks (same id and data) seen in this response
        self.cut_at: int | None = cut.offset if cut is not None else None
        self._decide()

    def _decide(self) -> None:
        """At a block boundary: has an event-based cut's condition been met?"""
        cut = self.cut
        if cut is None or self.cut_at is not None:
            return
        if (cut.after_events is not None and self.events >= cut.after_events) or (
            cut.after_new_events is not None and self.plan._new_events() >= cut.after_new_events
        ):
            self.cut_at = self.sent + cut.inner

    @property
    def due(self) -> bool:
        return self.cut_at is not None and self.sent >= self.cut_at

    def take(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` to send before the cut (all of it when the cut is not reached)."""
        out = bytearray()
        rest = bytes(chunk)
        while rest:
            limit = len(rest) if self.cut_at is None else self.cut_at - self.sent
            if limit <= 0:
                break
            window = rest[:limit]
            found = _BLOCK_END.search(bytes(self.block) + window, max(0, len(self.block) - 3))
            if found is None:
                self.block += window
                taken = len(window)
            elif self.cut_at is not None and self.cut is not None and self.cut.offset is None:
                # The block after an event-based cut's position is shorter than `inner`: cut at its last byte.
                taken = found.end() - len(self.block) - 1
                self.block += window[:taken]
                self.sent += taken
                out += rest[:taken]
                self.cut_at = self.sent
                break
            else:
                # Pass on bytes up to the end of the current block, then decide again at the boundary.
                taken = found.end() - len(self.block)
                block = bytes(self.block) + window[:taken]
                self._finish_block(block)
            self.sent += taken
            out += rest[:taken]
            rest = rest[taken:]
            if found is not None:
                self._decide()
        return bytes(out)

    def _finish_block(self, block: bytes) -> None:
        self.block = bytearray()
        lines = block.splitlines()
        if any(line.startswith(b"data") for line in lines):  # an event, not a comment like a heartbeat
            # An event is known by its bytes and by how many equal ones preceded it in this response: the
            # in-memory runtime gives every event of one millisecond the same id, so two equal tokens
            # of one millisecond are equal blocks, and a replay starts at a millisecond boundary.
            occurrence = self.occurrences.get(block, 0)
            self.occurrences[block] = occurrence + 1
            self.events += 1
            self.plan._note_event((block, occurrence))


# ---------------------------------------------------------------------------------------------- the proxy


class _Proxy:
    def __init__(self, upstreams: Sequence[str], plan: FaultPlan) -> None:
        if not upstreams:
            raise ValueError("the proxy needs at least one upstream")
        self.upstreams = [upstream.rstrip("/") for upstream in upstreams]
        self.plan = plan
        self.client: httpx.AsyncClient | None = None
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.wires: set[_Wire] = set()
        self.connections = itertools.count(1)
        self.turns = itertools.count()

    def _order(self) -> list[str]:
        """Round robin: the upstream whose turn it is, then the others (tried when it cannot be reached)."""
        first = next(self.turns) % len(self.upstreams)
        return self.upstreams[first:] + self.upstreams[:first]

    def drop_connections(self) -> int:
        """Abort every client connection now (no FIN handshake, no terminator); how many there were."""
        wires = list(self.wires)
        for wire in wires:
            wire.abort()
        return len(wires)

    async def start(self) -> int:
        self.client = httpx.AsyncClient(
            timeout=UPSTREAM_TIMEOUT,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=50),
            trust_env=False,
            follow_redirects=False,
        )
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=MAX_HEAD_BYTES)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5.0)
        if self.client is not None:
            await self.client.aclose()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        wire = _Wire(reader, writer)
        self.wires.add(wire)
        connection = next(self.connections)
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                request = await asyncio.wait_for(_read_request(wire), KEEPALIVE_IDLE)
                if request is None:
                    return
                keep_alive = await self._serve(connection, request, wire)
                if not keep_alive or (request.header("connection") or "").lower() == "close":
                    return
        except (TimeoutError, _ProtocolError, ConnectionError, OSError, ValueError):
            return
        except asyncio.CancelledError:
            return
        finally:
            wire.close()
            self.wires.discard(wire)
            self.tasks.discard(task)

    async def _serve(self, connection: int, request: _Request, wire: _Wire) -> bool:
        """Answer one request; False when the connection must be closed afterwards."""
        plan = self.plan
        record = plan._record(connection, request)
        try:
            rule = plan._take_rule(request.method, request.path)
            action = rule.action if rule is not None else None
            if rule is not None:
                record.fault = rule.name
            if isinstance(action, _Respond):
                headers = [*action.headers, ("content-length", str(len(action.body)))]
                await wire.send(
                    response_head(action.status, _REASONS.get(action.status, "Error"), headers) + action.body
                )
                record.status = action.status
                record.body_bytes = len(action.body)
                return True
            if isinstance(action, _Disconnect):
                return False
            if isinstance(action, _LoseAnswer):
                await self._forward_and_lose(request, record)
                return False
            if isinstance(action, _Stall) and not action.after_headers:
                await self._wait_for_client(wire, action.seconds, record)
                return False
            if isinstance(action, _Delay):
                await self._wait_for_client(wire, action.seconds, record)
                if record.client_gone:
                    return False
                action = None
            return await self._forward(request, wire, record, action)
        finally:
            record.ended = time.monotonic()

    async def _forward_and_lose(self, request: _Request, record: RecordedRequest) -> None:
        assert self.client is not None
        headers = [(name, value) for name, value in request.headers if name not in HOP_BY_HOP]
        base = self._order()[0]
        record.upstream = base
        try:
            response = await self.client.request(
                request.method, base + request.target, headers=headers, content=request.body
            )
            record.status = response.status_code
        except httpx.HTTPError:
            record.status = 502

    async def _wait_for_client(self, wire: _Wire, seconds: float, record: RecordedRequest) -> None:
        try:
            await asyncio.wait_for(wire.until_client_gone(), seconds)
            record.client_gone = True
        except TimeoutError:
            pass

    async def _forward(
        self, request: _Request, wire: _Wire, record: RecordedRequest, stall: _Stall | None
    ) -> bool:
        assert self.client is not None
        headers = [(name, value) for name, value in request.headers if name not in HOP_BY_HOP]
        headers.append(("accept-encoding", "identity"))
        response: httpx.Response | None = None
        failure: httpx.HTTPError | None = None
        for base in self._order():
            upstream = self.client.build_request(
                request.method, base + request.target, headers=headers, content=request.body
            )
            record.upstream = base
            try:
                response = await self.client.send(upstream, stream=True)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                failure = error  # nothing reached that upstream: the next one gets the request
            except httpx.HTTPError as error:
                failure = error
                break
        if response is None:
            name = type(failure).__name__
            body = f'{{"detail":"fault proxy: upstream failed: {name}"}}'.encode()
            head = [("content-type", "application/json"), ("content-length", str(len(body)))]
            await wire.send(response_head(502, "Bad Gateway", head) + body)
            record.status = 502
            return True
        try:
            record.status = response.status_code
            content_type = response.headers.get("content-type", "")
            record.stream = content_type.startswith("text/event-stream")
            no_body = request.method == "HEAD" or response.status_code in (204, 304)
            out = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
            if not no_body:
                out.append(("transfer-encoding", "chunked"))
            await wire.send(response_head(response.status_code, response.reason_phrase or "OK", out))
            if no_body:
                return True
            if stall is not None:
                await self._stall_body(wire, stall, record)
                return False
            cut = self.plan._take_cut(request.method, request.path) if record.stream else None
            return await self._relay(response, wire, record, cut)
        finally:
            await response.aclose()

    async def _stall_body(self, wire: _Wire, stall: _Stall, record: RecordedRequest) -> None:
        if stall.heartbeat_every is None:
            await self._wait_for_client(wire, stall.seconds, record)
            return
        gone = asyncio.ensure_future(wire.until_client_gone())
        try:
            deadline = time.monotonic() + stall.seconds
            while time.monotonic() < deadline and not gone.done():
                await asyncio.wait({gone}, timeout=min(stall.heartbeat_every, deadline - time.monotonic()))
                if gone.done() or time.monotonic() >= deadline:
                    break
                await wire.send_chunk(HEARTBEAT)
                record.body_bytes += len(HEARTBEAT)
            record.client_gone = gone.done()
        except (ConnectionError, OSError):
            record.client_gone = True
        finally:
            gone.cancel()

    async def _relay(
        self, response: httpx.Response, wire: _Wire, record: RecordedRequest, cut: Cut | None
    ) -> bool:
        """Pass the body on chunk by chunk; stop at once when the client goes away or the Cut falls."""
        cutter = _Cutter(self.plan, cut) if record.stream else None

        async def pump() -> bool:
            if cutter is not None and cutter.due:
                return await self._apply_cut(wire, record, cutter)
            async for chunk in response.aiter_raw():
                data = cutter.take(chunk) if cutter is not None else chunk
                await wire.send_chunk(data)
                record.body_bytes += len(data)
                if cutter is not None:
                    record.events = cutter.events
                    if cutter.due:
                        return await self._apply_cut(wire, record, cutter)
            await wire.send(b"0\r\n\r\n")
            return True

        relay = asyncio.ensure_future(pump())
        gone = asyncio.ensure_future(wire.until_client_gone())
        try:
            done, _ = await asyncio.wait(
                {relay, gone}, timeout=MAX_RESPONSE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if relay in done:
                return relay.result()
            record.client_gone = True
            return False
        except (ConnectionError, OSError, httpx.HTTPError):
            record.client_gone = True
            return False
        finally:
            for task in (relay, gone):
                task.cancel()
            await asyncio.wait({relay, gone}, timeout=5.0)

    async def _apply_cut(self, wire: _Wire, record: RecordedRequest, cutter: _Cutter) -> bool:
        assert cutter.cut is not None
        record.cut = cutter.cut.kind
        record.cut_at = cutter.sent
        if cutter.cut.kind == "close":
            await wire.send(b"0\r\n\r\n")
            return True
        return False


@dataclass
class RunningProxy:
    """A started fault proxy on 127.0.0.1. Use as a context manager or call :meth:`stop`."""

    url: str
    port: int
    plan: FaultPlan
    upstream: str
    upstreams: tuple[str, ...]
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _proxy: _Proxy = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            future = asyncio.run_coroutine_threadsafe(self._proxy.stop(), self._loop)
            future.result(timeout=timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=timeout)
            if not self._thread.is_alive():
                self._loop.close()

    def use_plan(self, plan: FaultPlan) -> None:
        """From the next request on, break and record according to ``plan``."""
        self.plan = plan
        self._proxy.plan = plan

    def use_upstreams(self, upstreams: Sequence[str]) -> None:
        """From the next request on, balance over ``upstreams``."""
        self.upstreams = tuple(upstream.rstrip("/") for upstream in upstreams)
        self._proxy.upstreams = list(self.upstreams)

    def drop_connections(self, timeout: float = 10.0) -> int:
        """Abort every connection a client has open to the proxy, now; how many there were."""

        async def drop() -> int:
            return self._proxy.drop_connections()

        return asyncio.run_coroutine_threadsafe(drop(), self._loop).result(timeout=timeout)

    def __enter__(self) -> RunningProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_fault_proxy(upstream_url: str | Sequence[str], plan: FaultPlan | None = None) -> RunningProxy:
    """Start a proxy to ``upstream_url`` on a free port of 127.0.0.1, in a thread with its own loop.

    Given several upstreams, it is a round-robin load balancer: each request goes to the next upstream in
    turn, or, when that one cannot be connected to (nothing was sent), to the following one.
    """
    plan = plan or FaultPlan()
    upstreams = [upstream_url] if isinstance(upstream_url, str) else list(upstream_url)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
    thread.start()
    proxy = _Proxy(upstreams, plan)
    try:
        port = asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout=10.0)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10.0)
        raise
    return RunningProxy(
        url=f"http://127.0.0.1:{port}",
        port=port,
        plan=plan,
        upstream=proxy.upstreams[0],
        upstreams=tuple(proxy.upstreams),
        _loop=loop,
        _thread=thread,
        _proxy=proxy,
    )
