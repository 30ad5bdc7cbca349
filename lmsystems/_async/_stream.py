"""A run's (or a thread's) stream of StreamParts, as the user holds it: iterable and a context manager.

A stream of a run on a thread is requested resumable: once the server has answered with the stream's
headers, a broken connection is repaired without losing or repeating an event (`_stream_loop.py`, with
the strategy of `_strategies.py`); a thread's stream (`threads.join_stream`) is repaired run by run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Self, cast

from .._stream_part_types import AnyStreamPart, StreamGap
from .._stream_parts import AnyPart, StreamProgress
from .._text import TokenText
from .._tracing import StreamTrace
from .._types import StreamPart
from ._stream_loop import follow

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    from .._types import Interrupt
    from ._core import AsyncCore
    from ._strategies import AsyncRunStrategy, AsyncThreadStrategy

    #: The kind of parts a stream yields: `AnyStreamPart` (a root graph's), or with `stream_subgraphs=True`
    #: `AnyStreamPart | AnySubgraphPart`.
    Part_co = TypeVar("Part_co", bound=StreamPart, default=AnyStreamPart, covariant=True)
else:
    from typing import TypeVar

    Part_co = TypeVar(
        "Part_co", bound=StreamPart, covariant=True
    )  # (a default needs Python 3.13 at run time)


class AsyncRunStream(Generic[Part_co]):
    """The parts of one run's stream, in order: `AnyStreamPart`s (with `stream_subgraphs=True`, a
    subgraph's parts too: `AsyncRunStream[AnyStreamPart | AnySubgraphPart]`).

    Iterate it (`async for part in stream`), or use it as a context manager (`async with`) to release
    the connection as soon as the block is left. After it ends, `run_id`, `thread_id`, `interrupts` and
    `interrupted` say how the run stopped; `events_delivered` counts the parts, `reconnects` the repairs.
    """

    def __init__(self, core: AsyncCore, strategy: AsyncRunStrategy | AsyncThreadStrategy) -> None:
        # The parts generator refers to the core and the strategy, not to this object, so no reference
        # cycle keeps a connection open after the user lets go of the stream.
        self._core = core
        self._strategy = strategy
        self._progress: StreamProgress = strategy.progress
        self._parts: AsyncIterator[Part_co] | None = None

    @property
    def thread_id(self) -> str | None:
        """The thread of the run (None for a stateless run)."""
        return self._progress.thread_id

    @property
    def run_id(self) -> str | None:
        """The run's id, once the server has named it."""
        return self._progress.run_id

    @property
    def events_delivered(self) -> int:
        """How many parts were delivered."""
        return self._progress.events_delivered

    @property
    def reconnects(self) -> int:
        """How many times a broken connection was repaired."""
        return self._progress.reconnects

    @property
    def attempts(self) -> int:
        """The run's attempt, from its `metadata` events: 2 or more when the server executing the run
        stopped (e.g. a replica died) and another one ran it again from the start of its current step.
        The parts of the earlier attempt were delivered already; the new attempt's follow its `metadata`
        part (`{"run_id": ..., "attempt": 2}`). 0 until the server named an attempt."""
        return self._progress.attempts

    @property
    def gaps(self) -> list[StreamGap]:
        """What a repaired stream may have missed, one entry per `gap` part it delivered: events of the
        kinds `events` sent after the event `after` while the connection was down, which the server does
        not keep for replay (langgraph-api 0.11.1 on Postgres keeps no stream_mode "messages" events).
        Empty when nothing may be missing. See docs/production.md."""
        tracker = self._progress.tracker
        return list(tracker.gaps) if tracker is not None else []

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event delivered (resumable streams only)."""
        return self._progress.last_event_id

    @property
    def interrupts(self) -> list[Interrupt]:
        """The interrupts the run stopped at (empty when it did not)."""
        return self._progress.interrupts

    @property
    def interrupted(self) -> bool:
        """True when the run stopped at an `interrupt()` that waits for a human."""
        return self._progress.interrupted

    def __aiter__(self) -> AsyncIterator[Part_co]:
        # The parts generator itself: a loop over the stream pays no wrapper call per part (unless the
        # application traces with OpenTelemetry: then the stream's span wraps it).
        if self._parts is None:
            parts = follow(self._core, self._strategy)
            trace = self._core.http.tracing.stream()
            # What the stream yields is set by its request (the caller's overload says which).
            self._parts = cast(
                "AsyncIterator[Part_co]", parts if trace is None else traced(parts, self._progress, trace)
            )
        return self._parts

    async def __anext__(self) -> Part_co:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection (the run itself goes on unless it was cancelled)."""
        if self._parts is not None:
            await self._parts.aclose()  # type: ignore[attr-defined]

    async def text(self) -> AsyncIterator[str]:
        """The AI's text as it streams, piece by piece (with stream_mode "messages-tuple" or "messages").

        `async for piece in stream.text(): print(piece, end="")` (other parts are read and skipped).
        """
        tokens = TokenText()
        async for part in self:
            piece = tokens.feed(part.event, part.data)
            if piece:
                yield piece

    async def collect(self) -> list[Part_co]:
        """Read the whole stream into a list."""
        return [part async for part in self]


async def traced(
    parts: AsyncIterator[AnyPart], progress: StreamProgress, trace: StreamTrace
) -> AsyncIterator[AnyPart]:
    """`parts` inside the stream's span: current while the stream works, not while the caller does."""
    error: BaseException | None = None
    try:
        while True:
            tokens = trace.enter()
            try:
                part = await parts.__anext__()
            except StopAsyncIteration:
                return
            finally:
                trace.leave(tokens)
            yield part
    except BaseException as exc:
        error = exc
        raise
    finally:
        try:
            with trace.current():
                await parts.aclose()  # type: ignore[attr-defined]
        finally:
            trace.finish(
                run_id=progress.run_id,
                thread_id=progress.thread_id,
                events_delivered=progress.events_delivered,
                reconnects=progress.reconnects,
                interrupted=progress.interrupted,
                error=error,
            )
