"""The two ways a stream is repaired: a run's stream, and a thread's stream (run by run).

A strategy says which request opens the stream, what a clean close means, and which request repairs a
broken connection; the reconnect loop (`_stream_loop.py`) does the reading, the counting and the backoff.
Both ask the `runs` resource about runs; the request building and planning are in `lmsystems/_stream_plan.py`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import httpx

from .._exceptions import ConflictError, LmsystemsError
from .._requests import RequestSpec
from .._sse import ServerSentEvent
from .._stream_part_types import MetadataPart
from .._stream_parts import END, Step, StreamProgress
from .._stream_plan import (
    CHECK_SILENCE,
    CLOCK_SLACK_MS,
    THREAD_REPAIR_RUNS,
    UNFINISHED_RUN_STATUSES,
    closed_reason,
    event_ms,
    follows_runs,
    http_date_ms,
    is_run_end,
    join_thread,
    rejoin_run,
    repair_plan,
    repair_request,
    run_status,
    wanted,
)

if TYPE_CHECKING:
    from ._runs import AsyncRuns

logger = logging.getLogger("lmsystems")


async def _status_of(runs: AsyncRuns, thread_id: str, run_id: str) -> str | None:
    """After a clean close: the run's status, or None when it could not be read."""
    try:
        return run_status(await runs.get(thread_id, run_id))
    except LmsystemsError as error:
        logger.info("could not check run %s after its stream closed: %s", run_id, error)
        return None


def _newer(newest: tuple[int, int] | None, before: tuple[int, int] | None) -> bool:
    """Whether a rejoin saw an event newer than any seen before it (events it only re-read do not count)."""
    return newest is not None and (before is None or newest > before)


class AsyncRunStrategy:
    """A run's stream: repaired by rejoining the run's own stream after the last event delivered.

    A clean close ends it only when the run is over, and a proxy may close a stream early. So after a
    close the run's stream is rejoined after the last event delivered, and that rejoin is the check: the
    server ends the rejoin of a finished run at once, with nothing after the last event, and keeps a
    running run's open. A rejoin that the server ends with nothing new ends the stream (one request
    after the close, as a status check would cost); one that brought events is followed by another. A
    rejoin that stays silent (not a byte for `CHECK_SILENCE` s) is not waited on: the run's status is
    asked, and a finished run is read once more to its end, a running one followed on. The silence only
    says when to ask; what the stream does follows from the server's answers.
    """

    def __init__(
        self,
        progress: StreamProgress,
        runs: AsyncRuns,
        opener: Callable[[AsyncRunStrategy], Awaitable[RequestSpec]],
        *,
        stream_modes: Sequence[str] | None = None,
        metadata: bool = True,
        on_started: Callable[[StreamProgress], Awaitable[None]] | None = None,
        conflict: type[ConflictError] = ConflictError,
    ) -> None:
        self.progress = progress
        self.conflict = conflict
        self._runs = runs
        self._opener = opener
        self._on_started = on_started
        self._final_replay = False  # this connection re-reads a run known to be over: its close is the end
        # A rejoin after a close: (the newest event id seen before it, when it was opened).
        self._checking: tuple[tuple[int, int] | None, float] | None = None
        # The rejoins ask for all of the run's events (the server's mode filter drops `metadata`, and with
        # it the run's attempt, and `error`): the stream's own modes are chosen here. A run's stream
        # delivers `metadata`; a join with modes (`metadata=False`) does not, as the server's filter, but
        # the attempt it names is noted all the same.
        self._modes = list(stream_modes) if stream_modes else None
        self._metadata = metadata
        #: Event name -> not wanted, for the names decided by name alone (what `skip` would answer).
        self.verdicts: dict[str, bool] = {}
        self.skip: Callable[[ServerSentEvent], bool] | None = self._unwanted if self._modes else None
        if self._modes and progress.tracker is not None:  # a gap names only the kinds of these modes
            modes = self._modes
            progress.tracker.wants = lambda kind: wanted(kind, modes)
            progress.tracker.expects_messages = "messages" in modes

    @property
    def name(self) -> str:
        return f"run {self.progress.run_id}"

    @property
    def can_resume(self) -> bool:
        """Whether a broken connection can be repaired (a resumable run on a thread, its id known)."""
        progress = self.progress
        return progress.tracker is not None and progress.thread_id is not None and progress.run_id is not None

    def resume_spec(self, *, cancel_on_disconnect: bool | None = None) -> RequestSpec:
        """The request that (re)joins this run's stream after the last event delivered (all, if none)."""
        progress = self.progress
        assert progress.thread_id is not None and progress.run_id is not None and progress.tracker is not None
        return rejoin_run(
            progress.thread_id, progress.run_id, progress.tracker, cancel_on_disconnect=cancel_on_disconnect
        )

    def _unwanted(self, event: ServerSentEvent) -> bool:
        name = event.event
        if name == "metadata" and not self._metadata:
            self.progress.note_metadata(event.data)
            return True
        verdict = self.verdicts.get(name)
        if verdict is None:
            verdict = not wanted(name, self._modes)
            if len(self.verdicts) < 256:  # event names are few; a server's inventions are not kept
                self.verdicts[name] = verdict
        return verdict

    def _check(self) -> Step:
        """Rejoin after a clean close: the rejoin says whether the run is over (see the class)."""
        spec = self.resume_spec()
        assert self.progress.tracker is not None
        self._checking = (self.progress.tracker.newest, time.monotonic())
        return Step(spec)

    @property
    def silence(self) -> float | None:
        """How long the current connection may stay silent before the strategy wants to know why (a
        rejoin after a clean close: `after_silence`), None: the stream's own limits only."""
        return CHECK_SILENCE if self._checking is not None else None

    async def open(self) -> RequestSpec:
        spec = await self._opener(self)
        if self.progress.tracker is not None:
            self.progress.tracker.note_opened()
        return spec

    async def started(self, headers: httpx.Headers) -> None:
        if self._on_started is not None:
            await self._on_started(self.progress)

    async def after_close(self) -> Step:
        progress = self.progress
        if not self.can_resume or self._final_replay:
            return END
        assert progress.thread_id is not None and progress.run_id is not None and progress.tracker is not None
        checking, self._checking = self._checking, None
        if checking is None:
            return self._check()
        if _newer(progress.tracker.newest, checking[0]):
            progress.reconnects += 1  # the close before it was early: the rejoin repaired it
            return self._check()  # the rejoin brought events, then closed: check again
        if time.monotonic() - checking[1] <= CHECK_SILENCE:
            # The server answered the rejoin to its end at once, with nothing after the last event
            # delivered: it holds a running run's rejoin open, so the run is over.
            return END
        # It stayed open (heartbeats, no event) and then ended with nothing new: not the server's
        # at-once answer, so the run's status says whether it is over.
        return await self._settle()

    async def after_silence(self) -> RequestSpec:
        """The rejoin after a close stayed silent: the run's status says whether the stream is read once
        more to its end (the run is over) or followed on."""
        progress = self.progress
        checking, self._checking = self._checking, None
        tracker = progress.tracker
        early = checking is not None and tracker is not None and _newer(tracker.newest, checking[0])
        step = await self._settle()
        if early or step.spec is None:  # it brought events, or the run goes on: the close was early
            progress.reconnects += 1
        return step.spec or self.resume_spec()

    async def _settle(self) -> Step:
        """Ask the run's status: a finished run is read once more to its end (its stream then ends the
        stream); otherwise (running, or the status unknown) the stream goes on after a backoff."""
        progress = self.progress
        assert progress.thread_id is not None and progress.run_id is not None
        status = await _status_of(self._runs, progress.thread_id, progress.run_id)
        if status is not None and status not in UNFINISHED_RUN_STATUSES:
            self._final_replay = True
            return Step(self.resume_spec())
        return Step(reason=closed_reason(status))

    async def after_failure(self) -> RequestSpec:
        checking, self._checking = self._checking, None
        tracker = self.progress.tracker
        if checking is not None and tracker is not None and _newer(tracker.newest, checking[0]):
            self.progress.reconnects += 1  # the close before it was early: the rejoin repaired it
        if tracker is not None:
            tracker.note_break()
        return self.resume_spec()

    async def after_resync(self) -> RequestSpec:
        """Read again from an unambiguous point (the tracker asked for it): a check stays a check."""
        if self._checking is None:
            return self.resume_spec()
        return self._check().spec or self.resume_spec()


class AsyncThreadStrategy:
    """A thread's stream (every run of the thread): repaired run by run, then the thread's own stream.

    The runs that may have produced events since the last one delivered are rejoined on their own streams
    (which subscribe before they replay), oldest first; a run's own stream sends no end notice, so the
    repair announces each run's end itself and skips the server's, should a later replay send it.
    """

    def __init__(
        self,
        progress: StreamProgress,
        runs: AsyncRuns,
        *,
        last_event_id: str | None = None,
        stream_modes: Sequence[str] | None = None,
    ) -> None:
        assert progress.thread_id is not None and progress.tracker is not None
        self.progress = progress
        self.conflict: type[ConflictError] = ConflictError
        self.thread_id = progress.thread_id
        self.tracker = progress.tracker
        self._runs = runs
        self._last_event_id = last_event_id
        self._stream_modes = stream_modes
        self._repairs: deque[str | None] = deque()  # the runs still to rejoin (None: then the thread)
        self._repair_run: str | None = None  # the run whose stream is read now (None: the thread's own)
        self._joined_at_ms: int | None = None
        self._ended_runs: set[str] = set()  # runs whose end a repair announced: skip the server's notice
        self.verdicts: dict[str, bool] = {}  # none: a run's end notice is told by its data
        self.skip: Callable[[ServerSentEvent], bool] | None = self._announced

    @property
    def name(self) -> str:
        return f"thread {self.thread_id}"

    @property
    def can_resume(self) -> bool:
        return True

    @property
    def silence(self) -> float | None:
        return None

    async def after_silence(self) -> RequestSpec:
        raise AssertionError("a thread stream has no silence limit of its own")

    async def open(self) -> RequestSpec:
        return join_thread(self.thread_id, self._last_event_id, self._stream_modes)

    async def started(self, headers: httpx.Headers) -> None:
        """The thread stream follows the thread from when it joined: its Date header (the server's clock)."""
        joined = http_date_ms(headers.get("date"))
        if joined is not None:
            self._joined_at_ms = joined
            self.tracker.start_after_if_unset(f"{joined - CLOCK_SLACK_MS}-0")

    async def after_close(self) -> Step:
        run_id = self._repair_run
        if run_id is None:  # the thread's own stream closed (a repair plan always ends with it)
            return END
        status = await _status_of(self._runs, self.thread_id, run_id)
        if status is not None and status not in UNFINISHED_RUN_STATUSES:  # that run is read: go on
            notice = self._run_ended(run_id)
            return Step(self._next(), notice)
        return Step(reason=closed_reason(status))

    async def after_failure(self) -> RequestSpec:
        self.tracker.note_break()
        self._repairs = await self._plan()
        return self._next()

    async def after_resync(self) -> RequestSpec:
        return await self.after_failure()

    def _next(self) -> RequestSpec:
        self._repair_run = self._repairs.popleft() if self._repairs else None
        return repair_request(self.thread_id, self._repair_run, self.tracker, self._stream_modes)

    async def _plan(self) -> deque[str | None]:
        """The runs to rejoin, oldest first, then None; a failure to list them goes straight back to the
        thread's stream."""
        if not follows_runs(self._stream_modes):
            return deque([None])
        try:
            runs = await self._runs.list(self.thread_id, limit=THREAD_REPAIR_RUNS)
        except LmsystemsError as error:
            logger.warning(
                "could not list the runs of thread %s to repair its stream: %s", self.thread_id, error
            )
            return deque([None])
        return repair_plan(runs, event_ms(self.tracker.last_event_id) or self._joined_at_ms)

    def _run_ended(self, run_id: str) -> MetadataPart:
        """The thread stream's notice that a run ended, which a run's own stream does not send.

        It carries the id of the run's last event (the server's own notice has the same or a later id).
        """
        self._ended_runs.add(run_id)
        self.progress.events_delivered += 1
        return MetadataPart("metadata", {"status": "run_done", "run_id": run_id}, self.tracker.last_event_id)

    def _announced(self, event: ServerSentEvent) -> bool:
        return bool(self._ended_runs) and is_run_end(event, self._ended_runs)
