"""What one stream knows, and how its events become StreamParts (pure: shared by async and sync).

`StreamProgress` is the state the public stream shows (run and thread ids, counters, interrupts, the
resume position) and the decoding of events: JSON data, `event: error` as a RunError, interrupts
noticed. It also builds the errors that say how far a stream got. The reconnect loop
(`lmsystems/_async/_stream_loop.py`) and its strategies drive it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx

from ._exceptions import APIConnectionError, APITimeoutError, LmsystemsError, StreamError
from ._interrupts import interrupts_in_part, run_error
from ._json import first_try, loads
from ._resume import ResumeTracker
from ._settings import StreamLimits
from ._stream_part_types import PART_TYPES, SUBGRAPH_PART_TYPES, AnyStreamPart, AnySubgraphPart
from ._types import StreamPart

if TYPE_CHECKING:
    from ._requests import RequestSpec
    from ._types import Interrupt

logger = logging.getLogger("lmsystems")

_kind_of = PART_TYPES.get
_subgraph_kind_of = SUBGRAPH_PART_TYPES.get
_new_part = tuple.__new__

#: What a stream yields: a root graph's parts, and a subgraph's (with `stream_subgraphs=True`).
AnyPart = AnyStreamPart | AnySubgraphPart


def kind_of(event: str) -> type[StreamPart]:
    """The kind of part for an event: by its name, a namespaced event by its mode (e.g. `updates|sub:1`:
    SubgraphUpdatesPart); a plain StreamPart for an event the spec does not name."""
    kind = _kind_of(event)
    if kind is None:
        mode, bar, _ = event.partition("|")
        kind = (_subgraph_kind_of(mode) if bar else None) or StreamPart
    return kind


class Step(NamedTuple):
    """What a stream does after its connection closed cleanly (the default: it ended)."""

    #: Read this request's stream next, at once (None: the stream ended, unless `reason` is set).
    spec: RequestSpec | None = None
    #: A part to deliver before that.
    notice: AnyPart | None = None
    #: Reconnect after a backoff, for this reason (counts as a failure).
    reason: str | None = None


END = Step()


class StreamProgress:
    """How far one stream got, and the decoding of its events into parts."""

    def __init__(
        self,
        *,
        thread_id: str | None,
        limits: StreamLimits | None = None,
        resumable: bool = False,
        start_after: str | None = None,
    ) -> None:
        self.thread_id = thread_id
        self.run_id: str | None = None
        self.limits = limits or StreamLimits()
        self.tracker = ResumeTracker(start_after=start_after) if resumable else None
        self.events_delivered = 0
        self.reconnects = 0
        self.attempts = 0
        self.interrupts: list[Interrupt] = []

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event delivered (resumable streams only)."""
        return self.tracker.last_event_id if self.tracker is not None else None

    @property
    def interrupted(self) -> bool:
        """True when the run stopped at an `interrupt()` that waits for a human."""
        return bool(self.interrupts)

    def part(self, event: str, data: str, event_id: str | None) -> AnyPart:
        """The part for one event, of its event's kind (`kind_of`); `event: error` raises the run's
        RunError."""
        value: Any = None
        if data:
            try:
                value = first_try(data)
            except ValueError:
                value = self._value(event, data)
        if event == "metadata":
            if isinstance(value, dict):
                self._note_run(value)
        elif event == "error":
            raise run_error(value, run_id=self.run_id, thread_id=self.thread_id)
        elif type(value) is dict and "__interrupt__" in value:
            found = interrupts_in_part(event, value)
            if found is not None:
                self.interrupts = found
        # The kind is known at run time only (an event the spec does not name is a plain StreamPart, outside
        # the union the stream promises): no cast() call on this hot path, and no named-tuple constructor.
        return _new_part(_kind_of(event) or kind_of(event), (event, value, event_id))  # type: ignore[return-value]

    def _value(self, event: str, data: str) -> Any:
        try:
            return loads(data)
        except ValueError:
            raise StreamError(
                f"event {event!r} of run {self.run_id} carries data that is not JSON: {data[:200]!r}",
                events_delivered=self.events_delivered,
                resumable=False,
            ) from None

    def note_metadata(self, data: str) -> None:
        """A `metadata` event that is not delivered: its run id and attempt are noted all the same."""
        try:
            value = loads(data)
        except ValueError:
            return
        if isinstance(value, dict):
            self._note_run(value)

    def _note_run(self, value: dict[str, Any]) -> None:
        self.run_id = self.run_id or value.get("run_id")
        attempt = value.get("attempt")
        if isinstance(attempt, int) and attempt > self.attempts:
            if self.attempts:
                logger.warning(
                    "run %s started again (attempt %d): the server that executed it stopped, and another "
                    "one runs it from the start of its current step",
                    self.run_id,
                    attempt,
                )
            self.attempts = attempt

    def note_location(self, location: str | None) -> None:
        """The server answers `Location: /threads/<thread>/runs/<run>/stream`: the run's own stream."""
        if location and "/runs/" in location:
            segments = location.split("/")
            run_index = segments.index("runs") + 1
            if run_index < len(segments) and segments[run_index] not in ("", "stream"):
                self.run_id = self.run_id or segments[run_index]

    def broken(self, error: LmsystemsError) -> LmsystemsError:
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

    def gave_up(self, failures: int, reason: str) -> StreamError:
        """The error once `failures` consecutive reconnects failed."""
        return StreamError(
            f"gave up on the stream of run {self.run_id} after {failures - 1} failed reconnects "
            f"({self.events_delivered} events delivered): {reason}",
            events_delivered=self.events_delivered,
        )

    def past_deadline(self) -> APITimeoutError:
        """The error once the stream's deadline passed."""
        return APITimeoutError(
            f"the stream of run {self.run_id} passed its deadline of {self.limits.deadline} s "
            f"({self.events_delivered} events delivered)",
            final=True,
        )

    def timeout_until(
        self, base: httpx.Timeout, deadline: float | None, silence: float | None = None
    ) -> httpx.Timeout | None:
        """The transport's timeouts, with reads cut to the idle timeout (and to `silence`, when given)
        and to what is left before the stream's deadline: a connection silent for that long (not even a
        heartbeat) ends the read, and the event reader tells an idle stream or a passed deadline (final)
        from a stall (repaired)."""
        idle = self.limits.idle_timeout
        if silence is not None:
            idle = silence if idle is None else min(idle, silence)
        if deadline is None and (idle is None or (base.read is not None and base.read <= idle)):
            return None
        read = base.read
        if idle is not None:
            read = idle if read is None else min(read, idle)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.past_deadline()
            read = left if read is None else min(read, left)
        return httpx.Timeout(connect=base.connect, read=read, write=base.write, pool=base.pool)
