"""Thread sessions: one connection that follows every run of a thread on the event-streaming protocol.

    async with client.thread_stream(assistant_id="agent") as session:
        await session.start({"messages": [...]})
        async for message in session.messages():
            async for delta in message:
                print(delta, end="")
        if session.interrupts:
            await session.respond(True)
        print(await session.output())

Nothing reads the connection in the background: whoever waits for an event (an iteration, `text()`,
`output()`, a WebSocket command's answer) reads the next batch and files it in the session's log, where
every projection finds it. So reading inside an iteration cannot deadlock, and a projection never ends
before the events it wants were read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from .. import _retry
from .. import _validation as check
from .._arguments import Input, MultitaskStrategies, checked_keywords
from .._event_reader import EventReader
from .._exceptions import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    InputError,
    LmsystemsError,
    RunError,
    StreamError,
    StreamGapError,
)
from .._json import first_try
from .._requests import Endpoint, build
from .._session_core import (
    CHANNELS,
    MAX_RUN_EVENTS,
    PLAIN_METHODS,
    EventLog,
    ReplayGuard,
    Run,
    SessionInterrupt,
    Subgraph,
    check_event,
    check_transport,
    command_result,
    decode_message,
    encode_command,
    is_root,
    lifecycle_status,
    lost_answer,
    respond_params,
    run_start_params,
    ws_failure,
)
from .._settings import StreamLimits
from ._core import AsyncCore
from ._events import iter_events
from ._io import Lock, sleep, ws_connect, ws_recv

if TYPE_CHECKING:
    from langchain_protocol.protocol import Event

    from .._types import Thread

logger = logging.getLogger("lmsystems")

#: Seconds a connection repaired during a run waits for an event before another one replays the thread.
RECHECK = 5.0

T = TypeVar("T")
_SKIP: Any = object()


class _AsyncSSE:
    """The SSE transport: events on one long POST, commands as short POSTs on the pooled client."""

    inline_commands = False

    def __init__(self, core: AsyncCore, endpoint: Endpoint, thread_id: str, limits: StreamLimits) -> None:
        self._core, self._endpoint, self._thread_id, self._limits = core, endpoint, thread_id, limits
        self._spec = build(
            "sessions.stream_thread_events",
            thread_id,
            body_model="ProtocolEventStreamRequest",
            body={"channels": list(CHANNELS)},
        )
        self._opened: Any = None
        self._batches: AsyncIterator[Any] | None = None
        self._reader: EventReader | None = None

    async def open(self) -> None:
        base = self._core.http.timeout
        # A socket read waits at most the idle timeout: a silent server cannot hold a reader longer.
        timeout = httpx.Timeout(
            connect=base.connect, read=self._limits.idle_timeout, write=base.write, pool=base.pool
        )
        opened = self._core.http.stream(self._endpoint, self._spec, max_retries=0, timeout=timeout)
        response = await opened.__aenter__()
        self._opened = opened
        reader = EventReader(
            f"{self._spec.method} {self._spec.path}",
            now=time.monotonic(),
            max_event_bytes=self._limits.max_event_bytes,
            idle_timeout=self._limits.idle_timeout,
        )
        self._reader = reader
        self._batches = iter_events(response, reader, self._endpoint, self._spec).__aiter__()

    async def read(self) -> list[dict[str, Any]] | None:
        """The next messages (None: the server closed the stream); APITimeoutError after the idle timeout
        without an event (heartbeats do not count), measured from when this read began."""
        if self._batches is None or self._reader is None:
            return None
        self._reader.waiting(time.monotonic())
        try:
            batch = await self._batches.__anext__()
        except StopAsyncIteration:
            return None
        messages: list[Any] = []
        append, first = messages.append, first_try
        for event in batch:
            data = event.data
            if data:
                try:
                    append(first(data))
                except ValueError:  # orjson refuses it: the standard library may read it, else an error
                    append(decode_message(data))
        return messages

    async def command(self, payload: dict[str, Any]) -> Any:
        spec = build(
            "sessions.send_protocol_command", self._thread_id, body_model="ProtocolCommand", body=payload
        )
        return await self._core.http.request(self._endpoint, spec, max_retries=0)

    async def send(self, payload: bytes) -> None:
        raise NotImplementedError  # never called: commands are not inline on SSE

    async def aclose(self) -> None:
        opened, self._opened, self._batches = self._opened, None, None
        if opened is not None:
            await opened.__aexit__(None, None, None)


class _AsyncWebSocket:
    """The WebSocket transport: commands, their answers and the events share one socket."""

    inline_commands = True

    def __init__(self, core: AsyncCore, endpoint: Endpoint, thread_id: str, limits: StreamLimits) -> None:
        base = endpoint.base_url.rstrip("/")
        scheme, _, rest = base.partition("://")
        path = f"/threads/{quote(thread_id, safe='')}/stream/events"
        self._url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}"
        self._where = f"the WebSocket of thread {thread_id} at {endpoint.base_url}"
        self._headers = dict(endpoint.headers)
        self._core, self._limits = core, limits
        self._ws: Any = None

    async def open(self) -> None:
        timeout = self._core.settings.timeout
        try:
            self._ws = await ws_connect(
                self._url,
                self._headers,
                open_timeout=timeout.connect,
                max_size=self._limits.max_event_bytes,
            )
        except Exception as error:
            raise (
                ws_failure(error, self._where, connecting=True) or APIConnectionError(f"{self._where} closed")
            ) from None

    async def read(self) -> list[dict[str, Any]] | None:
        if self._ws is None:
            return None
        try:
            # The idle clock runs only while someone reads: nobody reads between runs.
            message = await ws_recv(self._ws, self._limits.idle_timeout)
        except Exception as error:
            failure = ws_failure(error, self._where)
            if failure is None:
                return None  # closed normally
            raise failure from None
        return [decode_message(message)]

    async def send(self, payload: bytes) -> None:
        if self._ws is None:
            raise APIConnectionError(f"{self._where} is closed")
        try:
            await self._ws.send(payload.decode())
        except Exception as error:
            raise (
                ws_failure(error, self._where) or APIConnectionError(f"{self._where} was closed")
            ) from None

    async def command(self, payload: dict[str, Any]) -> Any:
        raise NotImplementedError  # never called: commands are inline on a WebSocket

    async def aclose(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await ws.close()
            except Exception:  # closing a broken socket: nothing left to do
                logger.debug("closing %s failed", self._where, exc_info=True)


@checked_keywords
class AsyncThreadStream:
    """A session on one thread: start runs, iterate their typed events and projections, answer interrupts.

    Use it as a context manager (`async with client.thread_stream(...) as session:`); it holds one event
    connection (SSE, or a WebSocket that also carries the commands). A dropped connection is repaired
    (up to `max_reconnects` consecutive attempts); if the server's replay cannot prove that nothing was
    missed or repeated, the next read raises StreamGapError naming the gap, and the session goes on.
    """

    def __init__(
        self,
        core: AsyncCore,
        thread: Thread | str | None,
        *,
        assistant_id: str | None,
        transport: str,
        limits: StreamLimits,
    ) -> None:
        self._core = core
        self._thread_id = check.thread_id(thread) if thread is not None else None
        self._assistant_id = (
            check.identifier(assistant_id, argument="assistant_id") if assistant_id is not None else None
        )
        core.assistant_for_run(self._assistant_id)
        self._transport_name = check_transport(transport)
        self._limits = limits
        self._log = EventLog()
        self._guard = ReplayGuard()
        self._log.on_running = self._guard.run_began
        self._connection: _AsyncSSE | _AsyncWebSocket | None = None
        self._endpoint: Endpoint | None = None
        self._answers: dict[int, Any] = {}
        self._next_id = 0
        self._lock = Lock()
        self._closed = False
        self._opened = False
        self._failures = 0  # reconnect attempts since the connection last delivered something
        self._reads = 0  # reads done (or attempted): a waiting reader knows whether someone read meanwhile
        self._last_error: LmsystemsError | None = None
        # After a repair during a run, the run's end may never come on the new connection (the event that
        # brings it can be lost while the connection joins the run): such a connection waits at most
        # RECHECK seconds at a time, then a new one replays the thread (after the run's end it holds it).
        self._suspect = False  # the connection is being repaired during a run
        self._short = False  # the connection waits at most RECHECK seconds (until that run ended)
        self._quiet = (0, 0.0)  # (events delivered, seconds waited since) over short waits
        self._awaiting = 0  # WebSocket commands awaiting their answer
        self.reconnects = 0

    def __repr__(self) -> str:
        return f"AsyncThreadStream(thread_id={self._thread_id!r}, transport={self._transport_name!r})"

    @property
    def thread_id(self) -> str | None:
        """The thread (created on entry when none was given)."""
        return self._thread_id

    @property
    def transport(self) -> str:
        return self._transport_name

    # ----------------------------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> AsyncThreadStream:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Create the thread if needed and open the event connection (done by `async with`)."""
        if self._closed:
            raise APIConnectionError("this session was closed: open a new one")
        if self._opened:
            return
        self._endpoint = await self._core.endpoint()
        if self._thread_id is None:
            created = await self._core.request(
                build("threads.create_thread", body_model="ThreadCreate", body={})
            )
            self._thread_id = str(created["thread_id"]) if isinstance(created, dict) else None
            if not self._thread_id:
                raise APIResponseError(f"creating a thread answered no thread_id: {created!r:.200}")
        await self._connect()
        self._opened = True

    async def aclose(self) -> None:
        """Close the event connection (runs go on on the server)."""
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()

    async def _connect(self) -> None:
        """Open a connection (on a WebSocket, subscribe); it becomes the session's once it works."""
        assert self._endpoint is not None and self._thread_id is not None
        cls = _AsyncSSE if self._transport_name == "sse" else _AsyncWebSocket
        limits, idle = self._limits, self._limits.idle_timeout
        short = self._suspect and (idle is None or idle > RECHECK)
        if short:
            limits = limits.override(idle_timeout=RECHECK)
        connection = cls(self._core, self._endpoint, self._thread_id, limits)
        await connection.open()
        try:
            if connection.inline_commands:
                # Read this connection directly: the caller may be the reader already (a repair).
                self._next_id += 1
                command_id = self._next_id
                method = "subscription.subscribe"
                await connection.send(encode_command(command_id, method, {"channels": list(CHANNELS)}))
                while command_id not in self._answers:
                    messages = await connection.read()
                    if messages is None:
                        raise APIConnectionError(f"the connection closed before {method} was answered")
                    for message in messages:
                        self._file(message)
                command_result(self._answers.pop(command_id), method)
        except BaseException:
            await connection.aclose()
            raise
        self._connection, self._short = connection, short

    # ------------------------------------------------------------------------------------ commands

    async def start(
        self,
        input: Input = None,
        *,
        config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        multitask_strategy: MultitaskStrategies | None = None,
        assistant_id: str | None = None,
    ) -> str:
        """Start a run on the thread (its events come on this session) and return its run id."""
        deployment = await self._core.deployment()
        assistant = assistant_id or self._assistant_id or deployment.assistant_id
        if assistant is None:
            raise InputError("this client has no graph: pass assistant_id=... to thread_stream() or start()")
        params = run_start_params(
            assistant,
            input,
            config=config,
            metadata=metadata,
            multitask_strategy=multitask_strategy,
            configurable=deployment.configurable,
        )
        await self._ready()
        mark = self._log.asking()
        try:
            result = await self._command("run.start", params)
        except BaseException:
            self._log.unask()  # the projections stay on the last run that did start
            raise
        run_id = result.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise APIResponseError(f"run.start answered no run_id: {result!r:.200}")
        self._log.claim(run_id, mark)
        await self._core.track_run(run_id)
        return run_id

    async def respond(self, value: Any, *, interrupt_id: str | None = None) -> None:
        """Answer an interrupt of the last run (the only one, or `interrupt_id`); a new run resumes the
        graph and streams on this session."""
        pending = self.interrupts
        if interrupt_id is None:
            if len(pending) != 1:
                raise InputError(
                    f"the last run waits for {len(pending)} interrupts: pass interrupt_id= (one of "
                    f"{[i.id for i in pending]})"
                    if pending
                    else "the last run did not stop at an interrupt: nothing to respond to"
                )
            target = pending[0]
        else:
            check.identifier(interrupt_id, argument="interrupt_id")
            found = [i for i in pending if i.id == interrupt_id]
            target = found[0] if found else SessionInterrupt(interrupt_id, None)
        params = respond_params(target, value)
        await self._ready()
        mark = self._log.asking()
        try:
            await self._command("input.respond", params)
        except BaseException:
            self._log.unask()
            raise
        self._log.claim(None, mark)

    async def _ready(self) -> None:
        if not self._opened:
            await self.open()
        if self._closed:
            raise APIConnectionError("this session was closed: open a new one")

    async def _command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        command_id = self._next_id
        connection = self._connection
        if connection is None:
            raise APIConnectionError("this session has no connection")
        if not connection.inline_commands:
            try:
                answer = await connection.command({"id": command_id, "method": method, "params": params})
            except APIConnectionError as lost:
                raise type(lost)(lost_answer(method, self._thread_id, str(lost))) from None
            return command_result(answer, method)
        self._awaiting += 1  # (the connection is not replaced while an answer is awaited on it)
        try:
            await connection.send(encode_command(command_id, method, params))
            while command_id not in self._answers:
                if connection is not self._connection:
                    raise APIConnectionError(
                        lost_answer(method, self._thread_id, str(self._last_error or "the server closed it"))
                    )
                await self._pump()
        finally:
            self._awaiting -= 1
        return command_result(self._answers.pop(command_id), method)

    # --------------------------------------------------------------------------------- reading

    async def _pump(self) -> None:
        """Read the next batch from the connection into the log (repairing a dropped connection).

        One reader at a time; whoever waited while another read returns at once (the log changed: look
        at it again first), so nobody reads for something that already arrived.
        """
        reads = self._reads
        async with self._lock:
            if self._reads != reads:
                return
            try:
                await self._read_once()
            finally:
                self._reads += 1

    async def _read_once(self) -> None:
        """Read one batch into the log; or, if the connection is gone, repair it (its handshake may file
        events too: the caller looks at the log again either way)."""
        while True:
            connection = self._connection
            if connection is None:
                self._failures += 1
                await self._reconnect(self._failures, self._last_error)
                if self._connection is not None:
                    return
                continue
            try:
                messages = await connection.read()
            except (APIConnectionError, StreamError) as failed:
                if isinstance(failed, APITimeoutError):
                    await self._drop()
                    if self._short and self._patient():
                        self._last_error = failed
                        continue  # a short wait after a repair: a new connection looks again
                    # Waited the idle timeout for an event: give up this wait (the next read repairs the
                    # connection, naming the gap if a run was going on).
                    raise self._idle(failed) from None
                if isinstance(failed, StreamError) and not failed.resumable:
                    raise
                self._last_error = failed
                await self._drop()
                continue
            if messages is None:
                self._guard.replay_ended()
                self._last_error = None
                await self._drop()
                continue
            self._failures = 0
            guard, log = self._guard, self._log
            if guard.replaying:  # a new connection's replay: each event is matched against those seen
                for message in messages:
                    self._file(message)
                await self._lengthen()
                return
            # The common case inlined: check each event's envelope, remember its key, file it (straight
            # into the run being fed when there is nothing to note about it).
            seen, feed, plain = guard.seen, log.feed, PLAIN_METHODS
            target = log.fast_target()
            for message in messages:
                try:
                    if message["type"] != "event":
                        raise KeyError
                    method = message["method"]
                    namespace = message["params"]["namespace"]
                except (KeyError, TypeError):
                    self._file(message)
                    continue
                if type(method) is not str or type(namespace) is not list:
                    check_event(message)  # raises: a malformed envelope
                seen.append((method, namespace, message.get("event_id")))
                event: Event = message  # type: ignore[assignment]  # (checked above)
                if target is not None and method in plain and len(target) < MAX_RUN_EVENTS:
                    target.append(event)
                    log.delivered += 1
                else:
                    feed(event)
                    target = log.fast_target()
            await self._lengthen()
            return

    async def _lengthen(self) -> None:
        """Once the run a short-waiting connection was repaired for has ended, replace it (between runs
        the next connection's replay is exact, and it waits the whole idle timeout)."""
        if self._short and not self._awaiting and self._settled():
            self._short = False
            await self._drop()
            self._failures += 1
            await self._reconnect(self._failures, None)

    def _patient(self) -> bool:
        """After a short wait without an event: whether the idle timeout still allows another one."""
        delivered, waited = self._quiet
        if delivered != self._log.delivered:
            delivered, waited = self._log.delivered, 0.0
        waited += RECHECK
        self._quiet = (delivered, waited)
        limit = self._limits.idle_timeout
        return limit is None or waited < limit

    def _idle(self, failed: APITimeoutError) -> APITimeoutError:
        limit = self._limits.idle_timeout
        waited = f"{limit:g} s" if limit is not None else "too long"
        return APITimeoutError(
            f"thread session {self._thread_id}: no event for {waited} while waiting ({failed}); raise "
            "stream_idle_timeout (client.with_options(stream_idle_timeout=...)) for longer silent steps",
            final=True,
        )

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()

    def _file(self, message: Any) -> None:
        if not isinstance(message, dict):
            raise StreamError(f"the event stream sent a JSON {type(message).__name__}, not an object")
        if message.get("type") == "event":
            event = check_event(message)
            if self._guard.admit(event):
                self._log.feed(event)
        elif isinstance(message.get("id"), int):
            self._answers[message["id"]] = message
        elif message.get("type") == "error":
            raise APIResponseError(
                f"the agent server reported: {message.get('message')!r:.200}", body=message
            )

    async def _reconnect(self, failures: int, error: LmsystemsError | None) -> None:
        """One attempt to open a new connection (its replay is matched against what was delivered)."""
        if self._closed:
            raise APIConnectionError("this session was closed: open a new one")
        if failures > self._limits.max_reconnects:
            raise StreamError(
                f"the session's connection dropped and {failures - 1} reconnects failed"
                + (f": {error}" if error else ""),
                events_delivered=self._log.delivered,
            )
        if failures > 1:
            await sleep(_retry.backoff(failures - 2))
        logger.info("thread session %s: reconnecting (%s)", self._thread_id, error or "the server closed it")
        current = self._log.current
        during_run = self._log.requested > len(self._log.runs) or (
            current is not None and current.end is None
        )
        self._guard.reconnected(during_run=during_run)
        self._suspect = during_run
        try:
            await self._connect()
        except (APIConnectionError, StreamError) as failed:
            logger.info("thread session %s: reconnect failed: %s", self._thread_id, failed)
            return
        self.reconnects += 1

    def _settled(self) -> bool:
        """Whether every run asked for has begun and the last one ended."""
        current = self._log.current
        return self._log.requested == len(self._log.runs) and current is not None and current.end is not None

    async def _run(self, number: int) -> Run:
        """The session's `number`-th run, once its first event was read."""
        while True:
            run = self._log.run(number)
            if run is not None:
                return run
            if number > self._log.requested:
                raise InputError("no run was started on this session: call start() first")
            await self._pump()

    async def _next(self, number: int, index: int, want: Callable[[Event, int], Any]) -> tuple[int, Any]:
        """From position `index` of run `number` on, its next event that `want` maps to a value
        (`_SKIP` once the run ended)."""
        run = await self._run(number)
        while True:
            gap = self._guard.take_gap()
            if gap is not None:
                raise StreamGapError(gap, events_delivered=self._log.delivered)
            events = run.events
            limit = run.end if run.end is not None else len(events)
            while index < limit:
                value = want(events[index], index)
                index += 1
                if value is not _SKIP:
                    return index, value
            if run.end is not None:
                return index, _SKIP
            if self._log.run(number + 1) is not None:
                raise StreamError(f"run {number} of this session never ended, and another one started")
            await self._pump()

    async def _settle(self, number: int) -> Run:
        """Run `number` once it ended."""
        await self._next(number, 0, _never)
        run = await self._run(number)
        return run

    def _number(self) -> int:
        return self._log.requested

    # ----------------------------------------------------------------------------- projections

    def __aiter__(self) -> AsyncIterator[Event]:
        """Every event of the last run started, until it ends."""
        return _AsyncProjection(self, self._number(), _every)

    def events(self) -> AsyncIterator[Event]:
        """Every event of the last run started (same as iterating the session)."""
        return _AsyncProjection(self, self._number(), _every)

    def messages(self, *, namespace: list[str] | tuple[str, ...] = ()) -> AsyncIterator[AsyncMessage]:
        """The messages of the last run (the root's, or those of a subgraph `namespace`), each a stream of
        text deltas."""
        number, wanted = self._number(), list(check.namespace(list(namespace)))

        def want(event: Event, index: int) -> Any:
            params = event["params"]
            data = params.get("data")
            if (
                event["method"] == "messages"
                and params["namespace"] == wanted
                and isinstance(data, dict)
                and data.get("event") == "message-start"
            ):
                return AsyncMessage(self, number, data, index)
            return _SKIP

        return _AsyncProjection(self, number, want)

    def values(self, *, namespace: list[str] | tuple[str, ...] = ()) -> AsyncIterator[Any]:
        """The state snapshots of the last run: the root's (a subgraph's with `namespace`)."""
        return self._data_of("values", namespace)

    def updates(self, *, namespace: list[str] | tuple[str, ...] = ()) -> AsyncIterator[Any]:
        """The node updates of the last run (needs the graph's stream_transformers())."""
        return self._data_of("updates", namespace)

    def _data_of(self, method: str, namespace: list[str] | tuple[str, ...]) -> AsyncIterator[Any]:
        """The data of the last run's `method` events in exactly `namespace`."""
        wanted = list(check.namespace(list(namespace)))
        return _AsyncProjection(
            self,
            self._number(),
            lambda e, _: (
                e["params"].get("data")
                if e["method"] == method and e["params"]["namespace"] == wanted
                else _SKIP
            ),
        )

    def custom(self, name: str | None = None) -> AsyncIterator[Any]:
        """Custom events of the last run: all (their data), or the payloads of the channel `name`."""
        if name is not None:
            check.identifier(name, argument="name")

        def want(event: Event, _: int) -> Any:
            if event["method"] != "custom":
                return _SKIP
            data = event["params"].get("data")
            if name is None:
                return data
            if isinstance(data, dict) and data.get("name") == name and "payload" in data:
                return data["payload"]
            return _SKIP

        return _AsyncProjection(self, self._number(), want)

    def tool_calls(self) -> AsyncIterator[AsyncToolCall]:
        """The tool calls of the last run, as they start (needs the graph's stream_transformers())."""
        number = self._number()

        def want(event: Event, _: int) -> Any:
            data = event["params"].get("data")
            if event["method"] == "tools" and isinstance(data, dict) and data.get("event") == "tool-started":
                return AsyncToolCall(self, number, data, list(event["params"]["namespace"]))
            return _SKIP

        return _AsyncProjection(self, number, want)

    def subgraphs(self) -> AsyncIterator[Subgraph]:
        """The subgraphs the last run entered, as they start: each with its namespace and graph name."""

        def want(event: Event, _: int) -> Any:
            if event["method"] == "lifecycle" and not is_root(event) and lifecycle_status(event) == "started":
                data = event["params"].get("data")
                graph = data.get("graph_name") if isinstance(data, dict) else None
                return Subgraph(
                    tuple(event["params"]["namespace"]), graph if isinstance(graph, str) else None
                )
            return _SKIP

        return _AsyncProjection(self, self._number(), want)

    @property
    def interrupts(self) -> list[SessionInterrupt]:
        """The interrupts the last run stopped at (read so far), each with its `id` and `payload`."""
        run = self._log.current
        return list(run.interrupts) if run is not None else []

    @property
    def status(self) -> str | None:
        """How the last run ended (completed, failed, interrupted), None while it runs."""
        run = self._log.current
        return run.status if run is not None else None

    async def output(self) -> Any:
        """Wait for the last run to end and return its final values (the root's last state snapshot).

        A failed run raises RunError with the server's error type and message.
        """
        run = await self._settle(self._number())
        if run.status == "failed":
            raise await self._run_error(run)
        return run.values

    async def _run_error(self, run: Run) -> RunError:
        error_type: str | None = None
        if run.run_id is not None and self._thread_id is not None:
            try:
                joined = await self._core.request(build("runs.join_run", self._thread_id, run.run_id))
            except LmsystemsError:
                joined = None
            detail = joined.get("__error__") if isinstance(joined, dict) else None
            if isinstance(detail, dict):
                error_type = str(detail.get("error")) if detail.get("error") else None
        return RunError(
            f"run {run.run_id} failed: {error_type + ': ' if error_type else ''}{run.error}",
            error_type=error_type,
            run_id=run.run_id,
            thread_id=self._thread_id,
        )


def _never(event: Event, _: int) -> Any:
    return _SKIP


def _every(event: Event, _: int) -> Any:
    return event


class _AsyncProjection(Generic[T]):
    """A cursor over one run's events in the session's log; it reads the connection when it runs out."""

    def __init__(self, session: AsyncThreadStream, number: int, want: Callable[[Event, int], Any]) -> None:
        self._session, self._number, self._want, self._index = session, number, want, 0
        self._done = False
        self._run: Run | None = None

    def __aiter__(self) -> _AsyncProjection[T]:
        return self

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        run = self._run
        if run is not None and not run.released and self._session._guard.gap is None:
            # The fast path: the next events were read already.
            events, index, want = run.events, self._index, self._want
            limit = run.end if run.end is not None else len(events)
            if want is _every and index < limit:  # every event: no need to ask
                self._index = index + 1
                every: T = events[index]  # type: ignore[assignment]
                return every
            while index < limit:
                value = want(events[index], index)
                index += 1
                if value is not _SKIP:
                    self._index = index
                    found: T = value
                    return found
            self._index = index
        self._index, value = await self._session._next(self._number, self._index, self._want)
        if run is None:
            self._run = self._session._log.run(self._number)
        if value is _SKIP:
            self._done = True
            raise StopAsyncIteration
        result: T = value
        return result


@checked_keywords
class AsyncMessage:
    """One message of a run: iterate it for its text deltas; `await message.text()` for the whole text.

    A message the run left unfinished (the run failed or was stopped, or the connection was lost) raises
    StreamError instead of waiting forever.
    """

    def __init__(self, session: AsyncThreadStream, number: int, start: dict[str, Any], index: int) -> None:
        self._session, self._number, self._index = session, number, index
        self._namespace: list[str] = list(session._log.runs[number - 1].events[index]["params"]["namespace"])
        self.id: str | None = start.get("id")
        self.role: str | None = start.get("role")
        self.namespace = tuple(self._namespace)
        self._parts: list[str] = []
        self._cursor = index + 1
        self._finished = False

    def __repr__(self) -> str:
        return f"AsyncMessage(id={self.id!r}, role={self.role!r}, namespace={self.namespace!r})"

    def __aiter__(self) -> AsyncIterator[str]:
        return _AsyncDeltas(self)

    async def _delta(self, position: int) -> str | None:
        """The `position`-th text delta (None when the message finished before it)."""
        while position >= len(self._parts):
            if self._finished:
                return None
            index, value = await self._session._next(self._number, self._cursor, self._step)
            self._cursor = index
            if value is _SKIP:
                raise StreamError(
                    f"message {self.id} was cut off: its run ended ({self._session.status}) before "
                    "the message finished",
                    events_delivered=self._session._log.delivered,
                )
            if isinstance(value, str):
                self._parts.append(value)
        return self._parts[position]

    def _step(self, event: Event, _: int) -> Any:
        if event["method"] != "messages" or event["params"]["namespace"] != self._namespace:
            return _SKIP
        data = event["params"].get("data")
        kind = data.get("event") if isinstance(data, dict) else None
        if kind == "content-block-delta":
            delta = data.get("delta") if isinstance(data, dict) else None
            if isinstance(delta, dict) and delta.get("type") == "text-delta":
                return str(delta.get("text", ""))
            content = data.get("content") if isinstance(data, dict) else None
            if isinstance(content, dict) and content.get("type") == "text":
                return str(content.get("text", ""))
            return _SKIP
        if kind in ("message-finish", "message-start"):
            self._finished = True
            return None if kind == "message-finish" else self._cut_by_next()
        if kind == "message-error":
            self._finished = True
            raise StreamError(f"message {self.id} ended with an error: {data!r:.200}")
        return _SKIP

    def _cut_by_next(self) -> None:
        raise StreamError(f"message {self.id} was cut off: another message started before it finished")

    async def text(self) -> str:
        """The message's whole text, once it finished."""
        position = 0
        while await self._delta(position) is not None:
            position += 1
        return "".join(self._parts)


class _AsyncDeltas:
    def __init__(self, message: AsyncMessage) -> None:
        self._message, self._position = message, 0

    def __aiter__(self) -> _AsyncDeltas:
        return self

    async def __anext__(self) -> str:
        delta = await self._message._delta(self._position)
        if delta is None:
            raise StopAsyncIteration
        self._position += 1
        return delta


@checked_keywords
class AsyncToolCall:
    """A tool call of a run: `id`, `name`, `input`; `await call.output()` waits for its result."""

    def __init__(
        self, session: AsyncThreadStream, number: int, data: dict[str, Any], namespace: list[str]
    ) -> None:
        self._session, self._number = session, number
        self.id: str | None = data.get("tool_call_id")
        self.name: str | None = data.get("tool_name")
        self.input: Any = data.get("input")
        self.namespace = tuple(namespace)
        self._namespace = namespace

    def __repr__(self) -> str:
        return f"AsyncToolCall(id={self.id!r}, name={self.name!r})"

    async def output(self) -> Any:
        """The tool's output (a RunError when the tool failed; StreamError if the run ended first)."""
        _, value = await self._session._next(self._number, 0, self._step)
        if value is _SKIP:
            raise StreamError(f"tool call {self.id} did not finish before its run ended")
        kind, payload = value
        if kind == "tool-error":
            raise RunError(
                f"tool {self.name} failed: {payload}",
                error_type="ToolError",
                thread_id=self._session.thread_id,
            )
        return payload

    def _step(self, event: Event, _: int) -> Any:
        data = event["params"].get("data")
        if event["method"] != "tools" or not isinstance(data, dict) or data.get("tool_call_id") != self.id:
            return _SKIP
        kind = data.get("event")
        if kind == "tool-finished":
            return kind, data.get("output")
        if kind == "tool-error":
            return kind, data.get("message")
        return _SKIP
