"""A tiny programmable HTTP server on 127.0.0.1 that answers anything, byte for byte.

No pytest imports here. Each connection gets one scripted reply and is then closed, so a script can send
what no well-behaved server would: the wrong content type, an HTML page from a "proxy", invalid UTF-8,
CR-only line endings, a chunked body cut off in the middle, or nothing at all::

    routes = {
        "GET /assistants/asst": json_reply(200, {"assistant_id": "asst"}),
        "GET /threads/t1": html_reply(502, "<html><title>502 Bad Gateway</title></html>"),
    }
    with start_bad_server(routes) as server:
        ...  # point a client at server.url
        assert server.requests[-1].target == "/threads/t1"

A handler is a callable ``(RecordedRequest) -> Reply`` or a mapping of routes (see :func:`routes`). Every
request is recorded raw (``server.requests``): method, request-target as sent (percent-encoding kept),
lower-cased headers and body.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .wire import parse_request_head, response_head

__all__ = [
    "HANG",
    "BadServerHandler",
    "RecordedRequest",
    "Reply",
    "RouteValue",
    "RunningBadServer",
    "chunked_reply",
    "closed_port_url",
    "html_reply",
    "json_reply",
    "raw_reply",
    "redirect_reply",
    "reply",
    "routes",
    "sse_reply",
    "start_bad_server",
    "text_reply",
]

MAX_HEAD_BYTES = 64 * 1024
DEFAULT_PAUSE = 0.02


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived."""

    method: str
    #: The request-target exactly as sent: path and query, percent-encoding kept.
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Reply:
    """What to write back: byte pieces, with pauses (floats, seconds) between them; then close.

    ``hang=True`` reads the request and then sends nothing at all until the server stops.
    """

    pieces: tuple[bytes | float, ...] = ()
    hang: bool = False


#: Read the request, then never send a byte.
HANG = Reply(hang=True)

BadServerHandler = Callable[[RecordedRequest], Reply]
RouteValue = Reply | Callable[[RecordedRequest], Reply] | Sequence[Reply]


def raw_reply(*pieces: bytes | float) -> Reply:
    """Exactly these bytes (floats are pauses), then the connection is closed."""
    return Reply(tuple(pieces))


def reply(
    status: int,
    body: bytes | str = b"",
    *,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    reason: str | None = None,
) -> Reply:
    """A complete answer with a Content-Length (``content_type=None`` sends no Content-Type at all)."""
    content = body.encode() if isinstance(body, str) else body
    fields: list[tuple[str, str]] = []
    if content_type is not None:
        fields.append(("Content-Type", content_type))
    fields += [("Content-Length", str(len(content))), ("Connection", "close")]
    fields += list((headers or {}).items())
    return Reply((response_head(status, reason, fields) + content,))


def json_reply(status: int, value: Any, *, headers: Mapping[str, str] | None = None) -> Reply:
    return reply(status, json.dumps(value), content_type="application/json", headers=headers)


def text_reply(status: int, text: str | bytes, *, headers: Mapping[str, str] | None = None) -> Reply:
    return reply(status, text, content_type="text/plain; charset=utf-8", headers=headers)


def html_reply(status: int, page: str, *, headers: Mapping[str, str] | None = None) -> Reply:
    return reply(status, page, content_type="text/html; charset=utf-8", headers=headers)


def redirect_reply(status: int, location: str) -> Reply:
    return reply(status, b"", headers={"Location": location})


def chunked_reply(
    status: int,
    chunks: Sequence[bytes | str | float],
    *,
    content_type: str | None = "text/event-stream; charset=utf-8",
    headers: Mapping[str, str] | None = None,
    complete: bool = True,
    pause: float = DEFAULT_PAUSE,
) -> Reply:
    """A chunked answer, one chunk per item, written separately with a pause between them.

    A float among the chunks is an extra pause (seconds). ``complete=False`` closes the connection
    without the final zero-length chunk: a truncated body.
    """
    fields: list[tuple[str, str]] = []
    if content_type is not None:
        fields.append(("Content-Type", content_type))
    fields += [("Transfer-Encoding", "chunked"), ("Connection", "close")]
    fields += list((headers or {}).items())
    pieces: list[bytes | float] = [response_head(status, None, fields)]
    for chunk in chunks:
        if isinstance(chunk, float | int):
            pieces.append(float(chunk))
            continue
        data = chunk.encode() if isinstance(chunk, str) else chunk
        if not data:
            continue
        pieces += [pause, f"{len(data):x}\r\n".encode() + data + b"\r\n"]
    if complete:
        pieces += [pause, b"0\r\n\r\n"]
    return Reply(tuple(pieces))


def sse_reply(
    *chunks: bytes | str | float,
    complete: bool = True,
    headers: Mapping[str, str] | None = None,
    pause: float = DEFAULT_PAUSE,
) -> Reply:
    """A 200 event stream made of these chunks (each written separately, ``pause`` s apart)."""
    return chunked_reply(200, chunks, headers=headers, complete=complete, pause=pause)


def routes(table: Mapping[str, RouteValue], *, default: Reply | None = None) -> BadServerHandler:
    """A handler from ``{"GET /path": reply}`` (or ``{"/path": reply}`` for any method).

    The path is matched against the raw request path (percent-encoding kept, query left out). A value
    may be a Reply, a callable ``(RecordedRequest) -> Reply``, or a sequence of Replies served in turn
    (the last one repeats). Unscripted requests get ``default`` (a plain-text 599 naming the request).
    """
    counters: dict[str, int] = {}
    lock = threading.Lock()

    def handle(request: RecordedRequest) -> Reply:
        for key in (f"{request.method} {request.path}", request.path):
            if key in table:
                value = table[key]
                if isinstance(value, Reply):
                    return value
                if callable(value):
                    return value(request)
                with lock:
                    index = counters.get(key, 0)
                    counters[key] = index + 1
                return value[min(index, len(value) - 1)]
        if default is not None:
            return default
        return text_reply(599, f"bad_server: no script for {request.method} {request.target}")

    return handle


def _read_request(conn: socket.socket) -> RecordedRequest | None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
        if len(buffer) > MAX_HEAD_BYTES:
            return None
    head, _, rest = buffer.partition(b"\r\n\r\n")
    method, target, fields = parse_request_head(head)
    headers = dict(fields)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                data = conn.recv(65536)
                if not data:
                    return None
                rest += data
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                data = conn.recv(65536)
                if not data:
                    return None
                rest += data
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                break
    else:
        length = int(headers.get("content-length", "0") or 0)
        while len(rest) < length:
            data = conn.recv(65536)
            if not data:
                return None
            rest += data
        body = rest[:length]
    return RecordedRequest(method=method, target=target, headers=headers, body=body)


@dataclass
class RunningBadServer:
    """A started bad server. Use as a context manager or call :meth:`stop`."""

    url: str
    port: int
    handler: BadServerHandler = field(repr=False)
    #: Serve TLS with this context (``https://``) instead of plain HTTP.
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    requests: list[RecordedRequest] = field(default_factory=list)
    #: Handler failures (a bug in the test's script), re-raised by :meth:`stop`.
    errors: list[BaseException] = field(default_factory=list)
    _listener: socket.socket | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)
    _connections: set[socket.socket] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(conn)
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                plain = conn
                conn = self.tls.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._connections.discard(plain)
                    self._connections.add(conn)
            request = _read_request(conn)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            try:
                answer = self.handler(request)
            except BaseException as error:
                self.errors.append(error)
                answer = text_reply(598, f"bad_server: the handler failed: {error!r}")
            if answer.hang:
                self._stopping.wait()
                return
            for piece in answer.pieces:
                if isinstance(piece, float | int):
                    if self._stopping.wait(piece):
                        return
                else:
                    conn.sendall(piece)
        except OSError:
            pass  # the client went away: that is its right
        finally:
            with self._lock:
                self._connections.discard(conn)
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, drop every open connection (hanging ones too) and wait for the threads."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
            with contextlib.suppress(OSError):
                self._listener.close()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.errors:
            raise RuntimeError(f"bad_server handler failed: {self.errors[0]!r}") from self.errors[0]

    def __enter__(self) -> RunningBadServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_bad_server(
    handler: BadServerHandler | Mapping[str, RouteValue], *, tls: ssl.SSLContext | None = None
) -> RunningBadServer:
    """Serve ``handler`` (or a route table, see :func:`routes`) on a free port of 127.0.0.1 (over TLS
    with the server context ``tls``: an ``https://`` URL)."""
    if isinstance(handler, Mapping):
        handler = routes(handler)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    port = int(listener.getsockname()[1])
    scheme = "http" if tls is None else "https"
    server = RunningBadServer(url=f"{scheme}://127.0.0.1:{port}", port=port, handler=handler, tls=tls)
    server._listener = listener
    thread = threading.Thread(target=server._serve, name=f"bad-server-{port}", daemon=True)
    server._threads.append(thread)
    thread.start()
    return server


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}"
