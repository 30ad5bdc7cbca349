"""A run's stream of StreamParts: lossless across dropped connections, and a context manager.

A stream of a run on a thread is requested resumable. Once the server has answered with the stream's
headers, the run id is known, and from then on a dropped connection, a truncated event, a stall (no bytes
at all, not even heartbeats, within the read timeout) or a clean close while the run is still pending or
running is repaired: the stream reconnects to the run's own stream with `Last-Event-ID` (`0` when no event
id was seen yet, which replays from the start), with backoff, keeping the same stream modes, and delivers
every event exactly once, in order. It gives up after `max_reconnects` consecutive failures with a
StreamError that says how many events were delivered.

A thread's stream (`threads.join_stream`) follows every run of the thread. The server's thread join
replays stored events and only then subscribes to the runs' live events, so a plain rejoin would lose what
a run produced in between. A broken thread stream is therefore repaired run by run: each run that may have
produced events since the last one delivered is rejoined on its own stream (which subscribes before it
replays), in the order the runs were created, and once those are read the thread's stream is rejoined
after the last event delivered.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .. import _retry
from .._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ConflictError,
    LmsystemsError,
    RunError,
    StreamError,
)
from .._interrupts import interrupts_in_part, run_error
from .._json import loads
from .._requests import Endpoint, RequestSpec, build
from .._resume import ResumeTracker, event_order
from .._settings import StreamLimits
from .._sse import ServerSentEvent
from .._types import StreamPart
from ._http import AsyncHTTP
from ._io import sleep

if TYPE_CHECKING:
    from .._types import Interrupt

logger = logging.getLogger("lmsystems")

#: Builds the request (and its endpoint) once the deployment is known; may itself make requests.
Opener = Callable[["AsyncRunState"], Awaitable[tuple[Endpoint, RequestSpec]]]
#: Called once the server has answered with the stream's headers (the run id is known then).
StartHook = Callable[["AsyncRunState"], Awaitable[None]]

UNFINISHED_RUN_STATUSES = frozenset({"pending", "running"})
#: How many of a thread's runs a thread stream repair looks at (the newest ones).
THREAD_REPAIR_RUNS = 100
#: Slack, in milliseconds, when telling from timestamps whether a run may have events after an event id.
CLOCK_SLACK_MS = 2_000


class AsyncRunState:
    """What one run stream knows, and the generator that reads it.

    Kept apart from AsyncRunStream on purpose: the generator refers to this state, not to the stream the
    user holds, so no reference cycle keeps a connection open after the user lets go of the stream.
    """

    def __init__(
        self,
        http: AsyncHTTP,
        opener: Opener,
        *,
        thread_id: str | None,
        conflict: type[LmsystemsError] = ConflictError,
        on_started: StartHook | None = None,
        resumable: bool = False,
        stream_modes: list[str] | None = None,
        limits: StreamLimits | None = None,
        start_after: str | None = None,
        follows_thread: bool = False,
    ) -> None:
        self._http = http
        self._opener = opener
        self._conflict = conflict
        self._on_started = on_started
        self._resumable = resumable
        self._stream_modes = stream_modes
        self._limits = limits or StreamLimits()
        self._endpoint: Endpoint | None = None
        self._tracker = ResumeTracker(start_after=start_after) if resumable else None
        self.thread_id = thread_id
        self.run_id: str | None = None
        self.events_delivered = 0
        self.reconnects = 0
        self.interrupts: list[Interrupt] = []
        # A thread stream's repair: the runs still to rejoin (None: then the thread itself), the run
        # whose stream is being read now (None: the thread's own stream), and when the join started.
        self._follows_thread = follows_thread
        self._repairs: deque[str | None] = deque()
        self._repair_run: str | None = None
        self._joined_at_ms: int | None = None
        self._ended_runs: set[str] = set()  # runs whose end a repair announced: skip the server's notice

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event delivered (resumable streams only)."""
        return self._tracker.last_event_id if self._tracker is not None else None

    @property
    def interrupted(self) -> bool:
        """True when the run stopped at an `interrupt()` that waits for a human."""
        return bool(self.interrupts)

    @property
    def can_resume(self) -> bool:
        """Whether a broken connection can be repaired (a resumable run on a thread, its id known)."""
        if not self._resumable or self.thread_id is None:
            return False
        return self._follows_thread or self.run_id is not None

    async def parts(self) -> AsyncIterator[StreamPart]:
        """The stream's parts, reconnecting as needed."""
        limits = self._limits
        started = time.monotonic()
        deadline = None if limits.deadline is None else started + limits.deadline
        endpoint, spec = await self._opener(self)
        self._endpoint = endpoint
        failures = 0
        first = True
        final_replay = False  # this connection re-reads a run known to be over: its close is the end
        while True:
            try:
                async with self._http.stream(
                    endpoint, spec, conflict=self._conflict, timeout=self._timeout_until(deadline)
                ) as response:
                    if first:
                        first = False
                        self._note_location(response.headers.get("location"))
                        self._note_date(response.headers.get("date"))
                        if self._on_started is not None:
                            await self._on_started(self)
                    events = self._http.events(
                        endpoint,
                        spec,
                        response,
                        max_event_bytes=limits.max_event_bytes,
                        idle_timeout=limits.idle_timeout,
                        deadline=deadline,
                    )
                    tracker = self._tracker
                    async for batch in events:
                        for event in batch:
                            for ready in tracker.feed(event) if tracker is not None else (event,):
                                if self._ended_runs and self._announced(ready):
                                    continue
                                part = self._part(ready.event, ready.data, ready.id)
                                self.events_delivered += 1
                                failures = 0
                                yield part
                # A clean close. Only the run's end may end the stream: a proxy may close early, and
                # the run may end between the close and our look at it, so a finished run is read once
                # more from the last event delivered before the stream is declared done.
                thread_ended = self._follows_thread and self._repair_run is None and not self._repairs
                if not self.can_resume or final_replay or thread_ended:
                    for ready in self._tracker.end_of_stream() if self._tracker is not None else ():
                        self.events_delivered += 1
                        yield self._part(ready.event, ready.data, ready.id)
                    logger.debug(
                        "the stream of run %s ended: %d events delivered, %d reconnects",
                        self.run_id,
                        self.events_delivered,
                        self.reconnects,
                    )
                    return
                status = await self._run_status(self._repair_run or self.run_id)
                if status is not None and status not in UNFINISHED_RUN_STATUSES:
                    if self._follows_thread:  # that run is read: on to the next step of the repair
                        yield self._run_ended(self._repair_run)
                        spec = self._next_repair()
                        continue
                    final_replay = True
                    spec = self.resume_spec()
                    continue
                reason = (
                    "the stream closed while the run was still going"
                    if status is not None
                    else "the stream closed and the run's status could not be read"
                )
            except (APIConnectionError, StreamError) as error:
                if isinstance(error, APITimeoutError) and error.final:
                    raise
                if not self.can_resume or (isinstance(error, StreamError) and not error.resumable):
                    raise self._broken(error) from None
                reason = str(error)
            failures += 1
            if failures > limits.max_reconnects:
                raise StreamError(
                    f"gave up on the stream of run {self.run_id} after {failures - 1} failed reconnects "
                    f"({self.events_delivered} events delivered): {reason}",
                    events_delivered=self.events_delivered,
                )
            delay = _retry.backoff(failures - 1)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise APITimeoutError(
                    f"the stream of run {self.run_id} passed its deadline of {limits.deadline} s "
                    f"({self.events_delivered} events delivered)",
                    final=True,
                )
            logger.info(
                "resuming the stream of %s in %.2fs (attempt %d of %d, after event %s) after: %s",
                f"thread {self.thread_id}" if self._follows_thread else f"run {self.run_id}",
                delay,
                failures,
                limits.max_reconnects,
                self.last_event_id or "-",
                reason,
            )
            await sleep(delay)
            self.reconnects += 1
            if self._follows_thread:
                self._repairs = await self._plan_thread_repair()
                spec = self._next_repair()
            else:
                spec = self.resume_spec()

    def _timeout_until(self, deadline: float | None) -> httpx.Timeout | None:
        """The transport's timeouts, with reads cut to what is left before the stream's deadline."""
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise APITimeoutError(
                f"the stream of run {self.run_id} passed its deadline of {self._limits.deadline} s "
                f"({self.events_delivered} events delivered)",
                final=True,
            )
        base = self._http.timeout
        return httpx.Timeout(
            connect=base.connect, read=min(base.read or left, left), write=base.write, pool=base.pool
        )

    def resume_spec(self, *, cancel_on_disconnect: bool | None = None) -> RequestSpec:
        """The request that (re)joins this run's stream after the last event delivered (all, if none)."""
        assert self.thread_id is not None and self.run_id is not None and self._tracker is not None
        modes = self._stream_modes
        return build(
            "runs.join_run_stream",
            self.thread_id,
            self.run_id,
            last_event_id=self._tracker.resume_from(),
            stream_mode=json.dumps(modes, separators=(",", ":")) if modes else None,
            cancel_on_disconnect=cancel_on_disconnect,
        )

    def _next_repair(self) -> RequestSpec:
        """The next request of a thread stream's repair: a run's own stream, or at last the thread's."""
        assert self.thread_id is not None and self._tracker is not None
        self._repair_run = self._repairs.popleft() if self._repairs else None
        if self._repair_run is not None:
            return build(
                "runs.join_run_stream",
                self.thread_id,
                self._repair_run,
                last_event_id=self._tracker.resume_from(),
            )
        modes = self._stream_modes
        return build(
            "threads.join_thread_stream",
            self.thread_id,
            last_event_id=self._tracker.resume_after_last(),
            stream_modes=",".join(modes) if modes else None,
        )

    async def _plan_thread_repair(self) -> deque[str | None]:
        """The runs that may have produced events since the last one delivered, oldest first, then None.

        A run qualifies when it is still pending or running, or was last updated after (about) the last
        event delivered. Thread streams without run events (only `lifecycle` or `state_update`) and a
        failure to list the runs go straight back to the thread's stream.
        """
        assert self._endpoint is not None and self.thread_id is not None and self._tracker is not None
        plan: deque[str | None] = deque([None])
        if self._stream_modes and "run_modes" not in self._stream_modes:
            return plan
        try:
            runs = await self._http.request(
                self._endpoint, build("runs.list_runs", self.thread_id, limit=THREAD_REPAIR_RUNS)
            )
        except LmsystemsError as error:
            logger.warning(
                "could not list the runs of thread %s to repair its stream: %s", self.thread_id, error
            )
            return plan
        since = _event_ms(self._tracker.last_event_id) or self._joined_at_ms
        chosen: list[tuple[str, str]] = []
        for run in runs if isinstance(runs, list) else ():
            if not isinstance(run, dict) or not isinstance(run.get("run_id"), str):
                continue
            updated = _iso_ms(run.get("updated_at"))
            if (
                run.get("status") in UNFINISHED_RUN_STATUSES
                or since is None
                or updated is None
                or updated >= since - CLOCK_SLACK_MS
            ):
                chosen.append((str(run.get("created_at") or ""), run["run_id"]))
        plan.extendleft(run_id for _, run_id in sorted(chosen, reverse=True))
        return plan

    def _run_ended(self, run_id: str | None) -> StreamPart:
        """The thread stream's notice that a run ended, which a run's own stream does not send.

        It carries the id of the run's last event (the server's own notice has the same or a later id);
        the server's notice, if a later replay sends it, is skipped.
        """
        assert run_id is not None
        self._ended_runs.add(run_id)
        self.events_delivered += 1
        return StreamPart("metadata", {"status": "run_done", "run_id": run_id}, self.last_event_id)

    def _announced(self, event: ServerSentEvent) -> bool:
        """Whether `event` is the server's end notice of a run whose end a repair already announced."""
        if event.event != "metadata" or '"run_done"' not in event.data:
            return False
        try:
            value = loads(event.data)
        except ValueError:
            return False
        return (
            isinstance(value, dict)
            and value.get("status") == "run_done"
            and value.get("run_id") in self._ended_runs
        )

    def _note_date(self, date: str | None) -> None:
        """A thread stream follows the thread from when it joined: its Date header (the server's clock)."""
        if not self._follows_thread or not date or self._tracker is None:
            return
        from email.utils import parsedate_to_datetime  # noqa: PLC0415 - only thread streams need it

        try:
            self._joined_at_ms = int(parsedate_to_datetime(date).timestamp() * 1000)
        except (TypeError, ValueError):
            return
        self._tracker.start_after_if_unset(f"{self._joined_at_ms - CLOCK_SLACK_MS}-0")

    async def _run_status(self, run_id: str | None) -> str | None:
        """After a clean close: the run's status, or None when it could not be read."""
        assert self._endpoint is not None and self.thread_id is not None and run_id is not None
        try:
            run = await self._http.request(self._endpoint, build("runs.get_run", self.thread_id, run_id))
        except LmsystemsError as error:
            logger.info("could not check run %s after its stream closed: %s", run_id, error)
            return None
        status = run.get("status") if isinstance(run, dict) else None
        return status if isinstance(status, str) else None

    def _broken(self, error: LmsystemsError) -> LmsystemsError:
        """The error to raise for a stream that cannot be repaired, saying how far it got."""
        if self.events_delivered and isinstance(error, APIConnectionError):
            return type(error)(
                f"{error} ({self.events_delivered} events delivered; this stream cannot be resumed)",
                status_code=error.status_code,
                request_id=error.request_id,
            )
        if isinstance(error, StreamError):
            error.events_delivered = self.events_delivered
        return error

    def _note_location(self, location: str | None) -> None:
        # The server answers `Location: /threads/<thread>/runs/<run>/stream`: the run's own stream.
        if location and "/runs/" in location:
            segments = location.split("/")
            run_index = segments.index("runs") + 1
            if run_index < len(segments) and segments[run_index] not in ("", "stream"):
                self.run_id = self.run_id or segments[run_index]

    def _part(self, event: str, data: str, event_id: str | None) -> StreamPart:
        try:
            value: Any = loads(data) if data else None
        except ValueError:
            raise StreamError(
                f"event {event!r} of run {self.run_id} carries data that is not JSON: {data[:200]!r}",
                events_delivered=self.events_delivered,
                resumable=False,
            ) from None
        if event == "metadata" and isinstance(value, dict):
            self.run_id = self.run_id or value.get("run_id")
        elif event == "error":
            raise self._run_error(value)
        elif "__interrupt__" in data:  # a cheap look at the text before the decoded value
            found = interrupts_in_part(event, value)
            if found is not None:
                self.interrupts = found
        return StreamPart(event, value, event_id)

    def _run_error(self, value: Any) -> RunError:
        return run_error(value, run_id=self.run_id, thread_id=self.thread_id)


class AsyncRunStream:
    """The parts of one run's stream, in order.

    Iterate it (`async for part in stream`), or use it as a context manager (`async with`) to release
    the connection as soon as the block is left. After it ends, `run_id`, `thread_id`, `interrupts` and
    `interrupted` say how the run stopped; `events_delivered` counts the parts, `reconnects` the repairs.
    """

    def __init__(self, http: AsyncHTTP, opener: Opener, **options: Any) -> None:
        self._state = AsyncRunState(http, opener, **options)
        self._parts: AsyncIterator[StreamPart] | None = None

    @property
    def thread_id(self) -> str | None:
        """The thread of the run (None for a stateless run)."""
        return self._state.thread_id

    @property
    def run_id(self) -> str | None:
        """The run's id, once the server has named it."""
        return self._state.run_id

    @property
    def events_delivered(self) -> int:
        """How many parts were delivered."""
        return self._state.events_delivered

    @property
    def reconnects(self) -> int:
        """How many times a broken connection was repaired."""
        return self._state.reconnects

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event delivered (resumable streams only)."""
        return self._state.last_event_id

    @property
    def interrupts(self) -> list[Interrupt]:
        """The interrupts the run stopped at (empty when it did not)."""
        return self._state.interrupts

    @property
    def interrupted(self) -> bool:
        """True when the run stopped at an `interrupt()` that waits for a human."""
        return self._state.interrupted

    def __aiter__(self) -> AsyncIterator[StreamPart]:
        # The parts generator itself: a loop over the stream pays no wrapper call per part.
        if self._parts is None:
            self._parts = self._state.parts()
        return self._parts

    async def __anext__(self) -> StreamPart:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> AsyncRunStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection (the run itself goes on unless it was cancelled)."""
        if self._parts is not None:
            await self._parts.aclose()  # type: ignore[attr-defined]

    async def collect(self) -> list[StreamPart]:
        """Read the whole stream into a list."""
        return [part async for part in self]


def _event_ms(event_id: str | None) -> int | None:
    """The millisecond timestamp of an `ms-seq` event id (None for another format)."""
    order = event_order(event_id) if event_id is not None else None
    return order[0] if order is not None else None


def _iso_ms(value: Any) -> int | None:
    """An ISO 8601 timestamp as milliseconds since the epoch (None when it is not one)."""
    from datetime import datetime  # noqa: PLC0415 - only thread stream repairs need it

    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        return None
