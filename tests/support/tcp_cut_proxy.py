"""A TCP relay that cuts connections, for faults on protocols the HTTP fault proxy cannot parse (WebSocket).

Each accepted connection is relayed byte for byte to the upstream host and port. ``cuts`` lists, for the
1st, 2nd, ... WebSocket connection (a request with ``Upgrade: websocket``; plain HTTP connections are
relayed untouched), after how many bytes from upstream (server to client) the relay drops both sides at
once (``None``: never). Connections beyond the list are never cut. ``lose_answer_to`` lists, the same way,
after which chunk the client sends after its upgrade request (1: its first message, ...) the relay stops
passing anything on to the client, waits ``LOSE_WAIT`` seconds (the server acts on that message) and
drops both sides: the answer to that message is lost.

    with start_tcp_cut_proxy("127.0.0.1", 8123, cuts=[4000, 2500]) as proxy:
        ...  # connect to proxy.url (http://127.0.0.1:PORT); proxy.cuts_applied counts the cuts

No pytest imports: scripts can use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from types import TracebackType

__all__ = ["RunningTcpProxy", "start_tcp_cut_proxy"]

LOSE_WAIT = 0.5  # seconds the server gets to act on a message whose answer is lost


class RunningTcpProxy:
    """The running relay: its ``url``, how many connections it took and how many it cut."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        cuts: Sequence[int | None],
        lose_answer_to: Sequence[int | None] = (),
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._cuts = list(cuts)
        self._lose = list(lose_answer_to)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._ready = threading.Event()
        self.connections = 0
        self.websockets = 0
        self.cuts_applied = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningTcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = await reader.read(65536)
        cut = lose = None
        if b"upgrade: websocket" in first.lower():
            index = self.websockets
            self.websockets += 1
            cut = self._cuts[index] if index < len(self._cuts) else None
            lose = self._lose[index] if index < len(self._lose) else None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        up_writer.write(first)
        done = asyncio.Event()
        held = asyncio.Event()  # set: nothing more goes to the client

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, limit: int | None, *, to_client: bool
        ) -> None:
            sent = chunks = 0
            try:
                while not done.is_set():
                    data = await source.read(65536)
                    if not data:
                        break
                    if to_client and held.is_set():
                        continue
                    chunks += 1
                    if not to_client and lose is not None and chunks == lose:
                        held.set()
                        sink.write(data)
                        await sink.drain()
                        await asyncio.sleep(LOSE_WAIT)
                        self.cuts_applied += 1
                        for side in (writer, up_writer):
                            side.transport.abort()
                        break
                    if limit is not None and sent + len(data) >= limit:
                        sink.write(data[: max(0, limit - sent)])
                        await sink.drain()
                        self.cuts_applied += 1
                        for side in (writer, up_writer):
                            side.transport.abort()  # no FIN handshake, no close frame: a dropped network
                        break
                    sent += len(data)
                    sink.write(data)
                    await sink.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                done.set()
                for side in (writer, up_writer):
                    with contextlib.suppress(Exception):
                        side.close()  # the other direction's read ends too

        with contextlib.suppress(asyncio.CancelledError):  # the relay is stopping
            await asyncio.gather(
                pump(reader, up_writer, None, to_client=False), pump(up_reader, writer, cut, to_client=True)
            )
        for side in (writer, up_writer):
            with contextlib.suppress(Exception):
                side.close()

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> RunningTcpProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_tcp_cut_proxy(
    host: str, port: int, *, cuts: Sequence[int | None] = (), lose_answer_to: Sequence[int | None] = ()
) -> RunningTcpProxy:
    return RunningTcpProxy(host, port, cuts, lose_answer_to).start()
