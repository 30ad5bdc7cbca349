"""A synthetic Agent Server for the benchmarks: raw asyncio HTTP/1.1, run in its own process.

    python bench/sse_server.py [--port 0]      # prints "LISTENING <port>" once it accepts connections

It speaks the wire format of the real server (`langgraph dev`, captured with curl):

* `POST /runs/stream` and `POST /threads/<t>/runs/stream` answer `200` with HTTP/1.1 chunked
  `content-type: text/event-stream; charset=utf-8`, a `location` header (`/runs/<r>/stream` for a stateless
  run, `/threads/<t>/runs/<r>/stream` on a thread, exactly like the real server) and `content-location`;
  the body is one HTTP chunk per event, CRLF lines: first `event: metadata` with the run id, then the
  payload events (`event: X\\r\\ndata: {...}\\r\\n[id: ...\\r\\n]\\r\\n`), a
  `: heartbeat\\r\\n\\r\\n` comment every `HEARTBEAT_EVERY` events, and no terminal event: the stream
  just ends (`0\\r\\n\\r\\n`).
  `id:` lines (`<ms>-0`, several events per millisecond, like the in-memory runtime) are sent when the run
  body has `"stream_resumable": true`. What is streamed is set by the run's input:
  `{"events": N, "kind": "messages" | "updates"}` (N payload events after the metadata event).
* `GET /threads/<t>/runs/<r>/stream` (a join of a finished resumable run) replays, like the real server,
  the stored events whose id is greater than the `Last-Event-ID` header (`0`: all), and nothing
  without that header.
* `GET /assistants/<ASSISTANT_ID>` and `POST /assistants/search` answer a small assistant (direct mode
  of our client resolves through them); `GET /threads/<t>` a small thread; `GET /threads/<t>/runs/<r>`
  a finished run (`"status": "success"`), which both SDKs ask after a thread stream ends cleanly;
  `GET /ok` `{"ok": true}`.

The listen backlog and the fd limit are raised so 1,000 concurrent connections are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import json
import resource
import signal
import sys
import time
import uuid
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payloads import ASSISTANT_ID, GRAPH_ID, payloads

HEARTBEAT_EVERY = 2000
EVENTS_PER_MS = 8
MAX_EVENTS = 1_000_000
WRITE_SLICE = 1 << 16
MAX_RUNS = 10_000
HEARTBEAT = b": heartbeat\r\n\r\n"
CREATED = "2026-01-01T00:00:00.000000+00:00"

ASSISTANT = {
    "assistant_id": ASSISTANT_ID,
    "graph_id": GRAPH_ID,
    "config": {},
    "context": {},
    "metadata": {"created_by": "system"},
    "name": GRAPH_ID,
    "created_at": CREATED,
    "updated_at": CREATED,
    "version": 1,
    "description": None,
}


def chunk(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    def __init__(self) -> None:
        self._bodies: dict[tuple[str, int, bool], bytes] = {}
        #: run id -> (kind, events) of the resumable runs streamed, for joins (the newest MAX_RUNS).
        self._runs: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._date = b""
        self._date_at = 0.0
        self._base_ms = int(time.time() * 1000)

    # ------------------------------------------------------------------ helpers

    def date(self) -> bytes:
        now = time.time()
        if now - self._date_at >= 1.0:
            self._date = email.utils.formatdate(now, usegmt=True).encode()
            self._date_at = now
        return self._date

    def body(self, kind: str, events: int, with_ids: bool) -> bytes:
        """The chunked body after the metadata event (cached: built once per shape)."""
        key = (kind, events, with_ids)
        cached = self._bodies.get(key)
        if cached is None:
            name, items = payloads(kind)
            head = b"event: " + name.encode() + b"\r\ndata: "
            datas = [item.encode() for item in items]
            parts = []
            for i in range(events):
                if i and i % HEARTBEAT_EVERY == 0:
                    parts.append(chunk(HEARTBEAT))
                event = head + datas[i % len(datas)] + b"\r\n"
                if with_ids:
                    event += b"id: %d-0\r\n" % (self._base_ms + i // EVENTS_PER_MS)
                parts.append(chunk(event + b"\r\n"))
            cached = b"".join(parts)
            if len(self._bodies) > 16:
                self._bodies.clear()
            self._bodies[key] = cached
        return cached

    def json_response(self, status: int, value: object) -> bytes:
        reason = {200: b"OK", 404: b"Not Found", 422: b"Unprocessable Entity", 405: b"Method Not Allowed"}
        content = json.dumps(value, separators=(",", ":")).encode()
        return (
            b"HTTP/1.1 %d %s\r\ndate: %s\r\nserver: uvicorn\r\ncontent-length: %d\r\n"
            b"content-type: application/json\r\nvary: Origin\r\n\r\n%s"
            % (status, reason.get(status, b"OK"), self.date(), len(content), content)
        )

    # ------------------------------------------------------------------ connection handling

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(1_000_000):  # requests on one keep-alive connection (bounded)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head[:-4].split(b"\r\n")
                method, target, _version = lines[0].split(b" ", 2)
                headers: dict[bytes, bytes] = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                body = b""
                if b"content-length" in headers:
                    body = await reader.readexactly(int(headers[b"content-length"]))
                elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                    body = await self.read_chunked(reader)
                path = target.split(b"?", 1)[0].decode()
                last_event_id = headers.get(b"last-event-id", b"").decode(errors="replace") or None
                await self.route(method.decode(), path, body, writer, last_event_id)
                if headers.get(b"connection", b"").lower() == b"close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts = []
        for _ in range(1_000_000):
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return b"".join(parts)

    async def route(
        self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter, last_event_id: str | None
    ) -> None:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and parts[-2:] == ["runs", "stream"] and len(parts) in (2, 4):
            thread_id = parts[1] if len(parts) == 4 else None
            await self.stream(thread_id, body, writer)
            return
        if method == "GET" and parts == ["ok"]:
            answer = self.json_response(200, {"ok": True})
        elif method == "GET" and len(parts) == 2 and parts[0] == "assistants":
            if parts[1] in (ASSISTANT_ID, GRAPH_ID):
                answer = self.json_response(200, ASSISTANT)
            else:
                answer = self.json_response(404, {"detail": f"Assistant '{parts[1]}' not found"})
        elif method == "POST" and parts == ["assistants", "search"]:
            answer = self.json_response(200, [ASSISTANT])
        elif method == "GET" and len(parts) == 2 and parts[0] == "threads":
            answer = self.json_response(200, self.thread(parts[1]))
        elif method == "GET" and len(parts) == 4 and parts[0] == "threads" and parts[2] == "runs":
            answer = self.json_response(200, self.run(parts[1], parts[3]))
        elif method == "GET" and len(parts) == 5 and parts[2] == "runs" and parts[4] == "stream":
            await self.join(parts[1], parts[3], last_event_id, writer)
            return
        else:
            answer = self.json_response(404, {"detail": "Not Found"})
        writer.write(answer)
        await writer.drain()

    @staticmethod
    def thread(thread_id: str) -> dict[str, object]:
        return {
            "thread_id": thread_id,
            "created_at": CREATED,
            "updated_at": CREATED,
            "state_updated_at": CREATED,
            "metadata": {},
            "status": "idle",
            "config": {},
            "values": None,
        }

    @staticmethod
    def run(thread_id: str, run_id: str) -> dict[str, object]:
        return {
            "run_id": run_id,
            "thread_id": thread_id,
            "assistant_id": ASSISTANT_ID,
            "created_at": CREATED,
            "updated_at": CREATED,
            "metadata": {},
            "status": "success",
            "kwargs": {},
            "multitask_strategy": "reject",
        }

    def stream_head(self, where: str) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\ndate: %s\r\nserver: uvicorn\r\nlocation: %s/stream\r\n"
            b"content-location: %s\r\ncache-control: no-store\r\nconnection: keep-alive\r\n"
            b"x-accel-buffering: no\r\ncontent-type: text/event-stream; charset=utf-8\r\nvary: Origin\r\n"
            b"transfer-encoding: chunked\r\n\r\n" % (self.date(), where.encode(), where.encode())
        )

    def metadata(self, run_id: str, with_ids: bool) -> bytes:
        event = b'event: metadata\r\ndata: {"run_id":"%s","attempt":1}\r\n' % run_id.encode()
        if with_ids:
            event += b"id: %d-0\r\n" % self._base_ms
        return chunk(event + b"\r\n")

    async def join(
        self, thread_id: str, run_id: str, last_event_id: str | None, writer: asyncio.StreamWriter
    ) -> None:
        """GET /threads/<t>/runs/<r>/stream of a finished run, as the real server answers it: the stored
        events whose id is greater than Last-Event-ID (`0`: all of them); none without the header."""
        head = self.stream_head(f"/threads/{thread_id}/runs/{run_id}")
        known = self._runs.get(run_id)
        replay = b""
        if known is not None and last_event_id is not None:
            kind, events = known
            try:
                after = int(last_event_id.split("-", 1)[0])
            except ValueError:
                after = 0
            if self._base_ms > after:
                replay += self.metadata(run_id, True)
            first = max(0, (after - self._base_ms + 1) * EVENTS_PER_MS)  # first event with a larger id
            if first < events:
                body = self.body(kind, events, True)
                replay += self.slice_events(body, first)
        writer.write(head + replay + b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    def slice_events(body: bytes, first: int) -> bytes:
        """The chunks of `body` from payload event number `first` on (heartbeat chunks skipped)."""
        if first == 0:
            return body
        offset, seen = 0, 0
        for _ in range(len(body)):
            size_end = body.index(b"\r\n", offset)
            size = int(body[offset:size_end], 16)
            end = size_end + 2 + size + 2
            if not body.startswith(b": ", size_end + 2):
                if seen == first:
                    return body[offset:]
                seen += 1
            offset = end
            if offset >= len(body):
                break
        return b""

    async def stream(self, thread_id: str | None, body: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(body) if body else {}
            spec = request.get("input") or {}
            events = int(spec.get("events", 0))
            kind = str(spec.get("kind", "messages"))
            if not 0 <= events <= MAX_EVENTS or kind not in ("messages", "updates"):
                raise ValueError(kind)
        except (ValueError, TypeError, AttributeError):
            writer.write(self.json_response(422, {"detail": "bad input: want {events: N, kind: ...}"}))
            await writer.drain()
            return
        with_ids = bool(request.get("stream_resumable")) and thread_id is not None
        run_id = str(uuid.uuid4())
        if with_ids:
            self._runs[run_id] = (kind, events)
            while len(self._runs) > MAX_RUNS:
                self._runs.popitem(last=False)
        where = f"/threads/{thread_id}/runs/{run_id}" if thread_id else f"/runs/{run_id}"
        writer.write(self.stream_head(where) + self.metadata(run_id, with_ids))
        payload = memoryview(self.body(kind, events, with_ids))
        for offset in range(0, len(payload), WRITE_SLICE):
            writer.write(payload[offset : offset + WRITE_SLICE])
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def serve(port: int) -> None:
    server = Server()
    # Build the common bodies before accepting connections, so no client waits for it.
    for kind in ("messages", "updates"):
        server.body(kind, 20_000, False)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=4096, limit=1 << 20)
    bound = listener.sockets[0].getsockname()[1]
    print(f"LISTENING {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with listener:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
