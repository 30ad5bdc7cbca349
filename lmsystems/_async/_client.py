"""The client facade, with the names of the product documentation (async here; sync in the generated twin)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from types import EllipsisType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, Unpack, overload

import httpx

from .. import _validation as check
from .._answers import field_of, object_answer
from .._arguments import (
    NOT_GIVEN,
    Command,
    CommandLike,
    Input,
    MultitaskStrategies,
    NewThread,
    NotGiven,
    RunExtras,
    RunKwargs,
    SessionTransport,
    StreamModes,
    StreamRunSettings,
    checked_keywords,
)
from .._exceptions import InputError
from .._operation import operation
from .._requests import build
from .._settings import ClientSettings, StreamLimits
from .._tracing import Tracing
from .._types import Deployment, StateUpdateResult, ThreadStatus
from ._assistants import AsyncAssistants
from ._core import AsyncCore
from ._crons import AsyncCrons
from ._runs import AsyncRuns
from ._session import AsyncThreadStream
from ._store import AsyncStore
from ._stream import AsyncRunStream
from ._threads import AsyncThreads

if TYPE_CHECKING:
    from .._stream_part_types import AnyStreamPart, AnySubgraphPart
    from .._types import Interrupt, Run, Thread, ThreadState

DEFAULT_STREAM_LIMITS = StreamLimits()


@checked_keywords
class LmsystemsClient:
    """Run a hosted LangGraph graph: threads, streaming runs, interrupts, state and history.

    Create it with `client = await LmsystemsClient.create(graph_name=..., api_key=...)`, which resolves
    the graph through the LMSystems marketplace. `api_key` falls back to `LMSYSTEMS_API_KEY`, `base_url` to
    `LMSYSTEMS_BASE_URL`. With `deployment_url=` (and an optional `deployment_key=`) it talks to an Agent
    Server directly, e.g. `langgraph dev`; `graph_name` is then a graph id or an assistant id there.

    Retries are only for requests that are safe to repeat. Streams reconnect without losing events, up to
    `max_reconnects` times in a row; heartbeats do not count as events for `stream_idle_timeout`. Plain
    http is refused for deployments not on this machine unless `allow_insecure_http=True`.

    Besides the documented methods, `threads`, `runs`, `assistants`, `store` and `crons` cover the whole
    Agent Server API. Use it as `async with` (or call `aclose()`) to release its connections.

    Args:
        graph_name: The graph to run: its marketplace name or, with `deployment_url`, a graph id or an
            assistant id on that server.
        api_key: Your LMSystems API key; defaults to `LMSYSTEMS_API_KEY`. Not needed with `deployment_url`.
        base_url: The marketplace API; defaults to `LMSYSTEMS_BASE_URL`, then the public API.
        deployment_url: An Agent Server to talk to directly, without the marketplace.
        deployment_key: That server's key, sent as `x-api-key` (None when it needs none).
        timeout: Seconds: each attempt of a request, as a whole, ends within them (a server that
            trickles its answer cannot hold a call), and the head of a stream's answer too. Or an
            `httpx.Timeout` for per-phase limits only. By default connect 10 s, read 60 s, write 30 s,
            pool 30 s, per phase.
        max_retries: How often a request that is safe to repeat is retried (default 2; 0: never).
        stream_idle_timeout: The longest wait for a stream's next event, in seconds (default 300; None:
            no limit).
        stream_deadline: The longest a whole stream may take, reconnects included (default None: no limit).
        max_reconnects: Consecutive failed reconnects before a dropped stream is given up (default 5).
        max_event_bytes: The largest event a stream accepts, in bytes (default 16 MiB).
        max_response_bytes: The largest answer read, decoded (compressed or not), in bytes (default
            64 MiB); a larger one raises APIResponseError. Error bodies are read up to 1 MiB.
        allow_insecure_http: Allow plain `http://` to a deployment that is not on this machine.
        transport: An httpx transport to send requests through instead of the client's own (for tests).
            The client's own ends every connect, write and read with the attempt; through another, the
            sync client bounds an answer's head per read only (see the Bounds page).
        distributed_tracing: Send the active LangSmith run tree's `langsmith-trace` and `baggage` headers
            (needs langsmith), so the server's run joins your LangSmith trace. OpenTelemetry context is
            sent whenever your application uses OpenTelemetry (see the tracing guide).
    """

    def __init__(
        self,
        graph_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        deployment_url: str | None = None,
        deployment_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,  # the values themselves, so signatures show them (== the settings' defaults)
        stream_idle_timeout: float | None = 300.0,
        stream_deadline: float | None = None,
        max_reconnects: int = 5,
        max_event_bytes: int = 16_777_216,
        max_response_bytes: int = 67_108_864,  # == _body_cap.DEFAULT_MAX_RESPONSE_BYTES
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        distributed_tracing: bool = False,
    ) -> None:
        settings = ClientSettings.resolve(
            graph_name=graph_name,
            api_key=api_key,
            base_url=base_url,
            deployment_url=deployment_url,
            deployment_key=deployment_key,
            timeout=timeout,
            max_retries=max_retries,
            stream_limits=DEFAULT_STREAM_LIMITS.override(
                idle_timeout=stream_idle_timeout,
                deadline=stream_deadline,
                max_reconnects=max_reconnects,
                max_event_bytes=max_event_bytes,
            ),
            max_response_bytes=max_response_bytes,
        )
        tracing = Tracing(distributed_tracing=distributed_tracing, graph=settings.graph_name)
        self._attach(
            AsyncCore(settings, transport=transport, allow_insecure_http=allow_insecure_http, tracing=tracing)
        )
        self._created()

    def _created(self) -> None:
        """Runs at the end of __init__: here nothing (the graph is resolved in create() or on first use); the
        public sync client resolves at once, as the product documentation's constructor does."""

    @classmethod
    async def create(
        cls,
        graph_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        deployment_url: str | None = None,
        deployment_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,  # the values themselves, as in __init__ (== the settings' defaults)
        stream_idle_timeout: float | None = 300.0,
        stream_deadline: float | None = None,
        max_reconnects: int = 5,
        max_event_bytes: int = 16_777_216,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        distributed_tracing: bool = False,
    ) -> Self:
        """Create a client and resolve its graph now, so that a wrong key or graph name fails here.

        Takes the arguments of the constructor; `graph_name`, `api_key` and `base_url` may be given by
        position, as in lmsystems 1.0.8."""
        client = cls(
            graph_name,
            api_key,
            base_url,
            deployment_url=deployment_url,
            deployment_key=deployment_key,
            timeout=timeout,
            max_retries=max_retries,
            stream_idle_timeout=stream_idle_timeout,
            stream_deadline=stream_deadline,
            max_reconnects=max_reconnects,
            max_event_bytes=max_event_bytes,
            allow_insecure_http=allow_insecure_http,
            transport=transport,
            distributed_tracing=distributed_tracing,
        )
        try:
            await client.connect()
        except BaseException:
            await client.aclose()
            raise
        return client

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        stream_idle_timeout: float | EllipsisType | None = ...,
        stream_deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
    ) -> Self:
        """A client with other timeouts, retries or stream limits, for some calls.

        It shares this client's connections and resolved deployment:
        `await client.with_options(timeout=5, max_retries=0).get_thread(thread)`.
        """
        settings = self._core.settings
        derived_settings = dataclasses.replace(
            settings,
            timeout=settings.timeout if timeout is None else ClientSettings.check_timeout(timeout),
            max_retries=settings.max_retries
            if max_retries is None
            else check.positive_int(max_retries, argument="max_retries", allow_zero=True),
            stream_limits=settings.stream_limits.override(
                idle_timeout=stream_idle_timeout, deadline=stream_deadline, max_reconnects=max_reconnects
            ),
        )
        clone = copy.copy(self)
        clone._attach(self._core.derive(derived_settings))
        return clone

    def _attach(self, core: AsyncCore) -> None:
        self._core = core
        self.threads = AsyncThreads(core)
        self.runs = AsyncRuns(core)
        self.assistants = AsyncAssistants(core)
        self.store = AsyncStore(core)
        self.crons = AsyncCrons(core)

    def __repr__(self) -> str:
        settings = self._core.settings
        where = settings.deployment_url or settings.base_url
        return f"{type(self).__name__}(graph_name={settings.graph_name!r}, url={where!r})"

    @property
    def graph_name(self) -> str | None:
        """The graph this client runs (None for a direct client created without one)."""
        return self._core.settings.graph_name

    @property
    def deployment(self) -> Deployment | None:
        """The resolved deployment (None until `connect()` or the first request)."""
        return self._core.resolved

    async def connect(self) -> Deployment:
        """Resolve the graph to its deployment (done once; later calls return it at once)."""
        return await self._core.deployment()

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._core.aclose()

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ the documented methods

    async def create_thread(self, **options: Unpack[NewThread]) -> Thread:
        """Create a thread: `thread["thread_id"]` names it. Same as `threads.create()` (the options:
        `metadata`, `thread_id`, `if_exists`, `ttl`, `supersteps`)."""
        return await self.threads.create(**options)

    async def get_thread(self, thread: Thread | str) -> Thread:
        """Get a thread."""
        return await self.threads.get(thread)

    async def get_thread_status(self, thread: Thread | str) -> ThreadStatus:
        """The thread's status: ThreadStatus IDLE, BUSY, INTERRUPTED or ERROR (equal to the strings)."""
        return await self.threads.get_status(thread)

    async def get_thread_state(
        self, thread: Thread | str, *, checkpoint_id: str | None = None, subgraphs: bool = False
    ) -> ThreadState:
        """The thread's current state (or its state at `checkpoint_id`)."""
        return await self.threads.get_state(thread, checkpoint_id=checkpoint_id, subgraphs=subgraphs)

    @overload
    def stream_run(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes = "values",
        multitask_strategy: MultitaskStrategies | None = None,
        checkpoint_id: str | None = None,
        is_background: bool = False,
        config: Mapping[str, Any] | None = None,
        command: Command | CommandLike | None = None,
        interrupt_before: Literal["*"] | Sequence[str] | None = None,
        interrupt_after: Literal["*"] | Sequence[str] | None = None,
        stream_subgraphs: Literal[False] | None = None,
        metadata: Mapping[str, Any] | None = None,
        assistant_id: str | None = None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[RunExtras],
    ) -> AsyncRunStream[AnyStreamPart]: ...
    @overload
    def stream_run(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes = "values",
        multitask_strategy: MultitaskStrategies | None = None,
        checkpoint_id: str | None = None,
        is_background: bool = False,
        config: Mapping[str, Any] | None = None,
        command: Command | CommandLike | None = None,
        interrupt_before: Literal["*"] | Sequence[str] | None = None,
        interrupt_after: Literal["*"] | Sequence[str] | None = None,
        stream_subgraphs: bool | None,
        metadata: Mapping[str, Any] | None = None,
        assistant_id: str | None = None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[RunExtras],
    ) -> AsyncRunStream[AnyStreamPart | AnySubgraphPart]: ...
    def stream_run(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes = "values",
        multitask_strategy: MultitaskStrategies | None = None,
        checkpoint_id: str | None = None,
        is_background: bool = False,
        config: Mapping[str, Any] | None = None,
        command: Command | CommandLike | None = None,
        interrupt_before: Literal["*"] | Sequence[str] | None = None,
        interrupt_after: Literal["*"] | Sequence[str] | None = None,
        stream_subgraphs: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        assistant_id: str | None = None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[RunExtras],
    ) -> AsyncRunStream[AnyStreamPart | AnySubgraphPart]:
        """Run the graph on `thread` (None: a stateless run) and stream its parts (`AnyStreamPart`:
        `StreamPart`s typed by their `event`; with `stream_subgraphs=True` the subgraphs' parts too,
        `AnySubgraphPart`s with their `namespace`: narrow those by `part.mode`).

        `stream_mode`: one of values, messages, messages-tuple, updates, custom, events, debug, tasks,
        checkpoints, or a list. `multitask_strategy` (reject, rollback, interrupt, enqueue) says what
        happens when the thread is busy; `reject` raises ThreadBusyError. `input=None` with
        `checkpoint_id` continues from that checkpoint (e.g. after `update_thread_state`); `command`
        (`{"resume": value}`) resumes an interrupt. `is_background=True` starts the run in the background
        and follows it: leaving the loop early leaves the run running. Arguments are checked at once
        (InputError); the request goes out when the stream is first read. After the stream ends,
        `stream.interrupted` and `stream.interrupts` tell whether the run waits for a human.
        """
        return self.runs.stream(
            thread,
            input,
            stream_mode=stream_mode,
            is_background=is_background,
            multitask_strategy=multitask_strategy,
            checkpoint_id=checkpoint_id,
            config=config,
            command=command,
            interrupt_before=interrupt_before,
            interrupt_after=interrupt_after,
            stream_subgraphs=stream_subgraphs,
            metadata=metadata,
            assistant_id=assistant_id,
            idle_timeout=idle_timeout,
            deadline=deadline,
            max_reconnects=max_reconnects,
            **options,
        )

    async def create_run(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes | None = None,
        **options: Unpack[RunKwargs],
    ) -> Run:
        """Start a run in the background and return it at once (status `pending`), as lmsystems 1.0.8's
        `create_run`. Same as `runs.create()`."""
        return await self.runs.create(thread, input, stream_mode=stream_mode, **options)

    async def update_thread_state(
        self,
        thread: Thread | str,
        state_update: Any,
        *,
        as_node: str | None = None,
        checkpoint_id: str | None = None,
    ) -> StateUpdateResult:
        """Write `state_update` into the thread's state as if `as_node` had run.

        Returns `{"checkpoint": {...}, "checkpoint_id": ...}`: stream from that checkpoint with
        `stream_run(thread=..., input=None, checkpoint_id=result["checkpoint_id"])` to continue.
        """
        check.json_value(state_update, argument="state_update")
        return await self.threads.update_state(
            thread, state_update, as_node=as_node, checkpoint_id=checkpoint_id
        )

    async def get_state_history(
        self,
        thread: Thread | str,
        *,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        before: str | dict[str, Any] | None = None,
    ) -> list[ThreadState]:
        """Past states of the thread, newest first.

        `filter` matches checkpoint metadata, e.g. `{"source": "update"}` or `{"step": 2}` (the server's
        checkpoint metadata has `source`, `step` and `parents`; a filter on another key matches nothing).
        """
        return await self.threads.get_history(thread, limit=limit, before=before, filter=filter)

    async def get_interrupts(self, thread: Thread | str) -> list[Interrupt]:
        """The interrupts the thread waits on, each with its `id` and `value` (empty when none)."""
        return await self.threads.get_interrupts(thread)

    @overload
    def resume(
        self,
        thread: Thread | str,
        value: Any,
        *,
        interrupt_id: str | None = None,
        stream_mode: StreamModes = "values",
        stream_subgraphs: Literal[False] | None = None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[StreamRunSettings],
    ) -> AsyncRunStream[AnyStreamPart]: ...
    @overload
    def resume(
        self,
        thread: Thread | str,
        value: Any,
        *,
        interrupt_id: str | None = None,
        stream_mode: StreamModes = "values",
        stream_subgraphs: bool | None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[StreamRunSettings],
    ) -> AsyncRunStream[AnyStreamPart | AnySubgraphPart]: ...
    def resume(
        self,
        thread: Thread | str,
        value: Any,
        *,
        interrupt_id: str | None = None,
        stream_mode: StreamModes = "values",
        stream_subgraphs: bool | None = None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[StreamRunSettings],
    ) -> AsyncRunStream[AnyStreamPart | AnySubgraphPart]:
        """Answer the thread's pending interrupt with `value` and stream the rest of the run.

        With several interrupts pending, `interrupt_id` says which one `value` answers. A thread that
        waits on no interrupt raises `NothingToResumeError` when the stream is first read.
        """
        check.thread_id(thread)
        resume = {interrupt_id: value} if interrupt_id is not None else value
        return self.runs.stream(
            thread,
            None,
            stream_mode=stream_mode,
            command={"resume": resume},
            stream_subgraphs=stream_subgraphs,
            idle_timeout=idle_timeout,
            deadline=deadline,
            max_reconnects=max_reconnects,
            **options,
        )

    async def track_run(self, run_id: str) -> None:
        """Record with the marketplace that a run of this graph started (for runs started outside this
        client, e.g. by `PurchasedGraph`; `stream_run` records its own). Best effort: a failure is logged,
        never raised. A direct client (`deployment_url=`) records nothing."""
        if not isinstance(run_id, str) or not run_id:
            raise InputError(f"run_id must be a non-empty string, not {run_id!r}")
        await self._core.track_run(run_id)

    @operation("send_protocol_command", "stream_thread_events")
    def thread_stream(
        self,
        thread: Thread | str | None = None,
        *,
        assistant_id: str | None = None,
        transport: SessionTransport = "sse",
        max_reconnects: int | None = None,
    ) -> AsyncThreadStream:
        """A session on `thread` (None: a new thread) over the event-streaming protocol: `async with` it,
        `await session.start(input)`, then iterate its typed events or its projections (`messages()`,
        `values()`, `tool_calls()`, `subgraphs()`, `custom(name)`, `interrupts`), `respond(value)` to an
        interrupt and `await session.output()` for the final values.

        `transport`: "sse" (one event stream, commands as short requests) or "websocket" (one socket for
        both; `pip install "lmsystems[websocket]"`). See the guide's *Thread sessions* for when to use it
        rather than `stream_run`.
        """
        limits = self._core.settings.stream_limits
        if max_reconnects is not None:
            limits = limits.override(max_reconnects=max_reconnects)
        return AsyncThreadStream(
            self._core, thread, assistant_id=assistant_id, transport=transport, limits=limits
        )

    @operation("health_check")
    async def health(self) -> bool:
        """Whether the deployment's Agent Server is up."""
        spec = build("system.health_check")
        return bool(field_of(await self._core.request(spec), "ok", call=spec))

    @operation("get_server_info")
    async def server_info(self) -> dict[str, Any]:
        """Version, feature flags and metadata of the deployment's Agent Server."""
        spec = build("system.get_server_info")
        return object_answer(await self._core.request(spec), call=spec)
