"""A run's stream of StreamParts: an iterator and a context manager that releases its connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

from .._exceptions import ConflictError, LmsystemsError, RunError, StreamError
from .._interrupts import interrupts_in_part
from .._requests import Endpoint, RequestSpec
from .._types import Interrupt, StreamPart
from ._http import AsyncHTTP

#: Builds the request (and its endpoint) once the deployment is known; may itself make requests.
Opener = Callable[["AsyncRunStream"], Awaitable[tuple[Endpoint, RequestSpec]]]
#: Called once the server has answered with the stream's headers (the run id is known then).
StartHook = Callable[["AsyncRunStream"], Awaitable[None]]


class AsyncRunStream:
    """The parts of one run's stream, in order.

    Iterate it (`async for part in stream`), or use it as a context manager to release the connection
    as soon as the block is left. After it ends, `run_id`, `thread_id`, `interrupts` and `interrupted`
    say how the run stopped.
    """

    def __init__(
        self,
        http: AsyncHTTP,
        opener: Opener,
        *,
        thread_id: str | None,
        conflict: type[LmsystemsError] = ConflictError,
        on_started: StartHook | None = None,
    ) -> None:
        self._http = http
        self._opener = opener
        self._on_started = on_started
        self._conflict = conflict
        self._parts: AsyncIterator[StreamPart] | None = None
        self.thread_id = thread_id
        self.run_id: str | None = None
        self.events_delivered = 0
        self.interrupts: list[Interrupt] = []

    @property
    def interrupted(self) -> bool:
        """True when the run stopped at an `interrupt()` that waits for a human."""
        return bool(self.interrupts)

    def __aiter__(self) -> AsyncRunStream:
        return self

    async def __anext__(self) -> StreamPart:
        if self._parts is None:
            self._parts = self._stream()
        return await self._parts.__anext__()

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

    async def _stream(self) -> AsyncIterator[StreamPart]:
        endpoint, spec = await self._opener(self)
        async with self._http.stream(endpoint, spec, conflict=self._conflict) as response:
            self._note_location(response.headers.get("location"))
            if self._on_started is not None:
                await self._on_started(self)
            async for event in self._http.events(endpoint, spec, response):
                part = self._part(event.event, event.data, event.id)
                self.events_delivered += 1
                yield part

    def _note_location(self, location: str | None) -> None:
        # The server answers `Location: /threads/<thread>/runs/<run>/stream`: the run's own stream.
        if location and "/runs/" in location:
            segments = location.split("/")
            run_index = segments.index("runs") + 1
            if run_index < len(segments):
                self.run_id = self.run_id or segments[run_index]

    def _part(self, event: str, data: str, event_id: str | None) -> StreamPart:
        try:
            value: Any = json.loads(data) if data else None
        except ValueError:
            raise StreamError(
                f"event {event!r} of run {self.run_id} carries data that is not JSON: {data[:200]!r}",
                events_delivered=self.events_delivered,
            ) from None
        if event == "metadata" and isinstance(value, dict):
            self.run_id = value.get("run_id", self.run_id)
        elif event == "error":
            raise self._run_error(value)
        else:
            found = interrupts_in_part(event, value)
            if found is not None:
                self.interrupts = found
        return StreamPart(event, value, event_id)

    def _run_error(self, value: Any) -> RunError:
        if isinstance(value, dict):
            error_type = str(value.get("error") or "Error")
            message = str(value.get("message") or error_type)
        else:
            error_type, message = "Error", str(value)
        return RunError(
            f"run {self.run_id} on thread {self.thread_id} failed: {error_type}: {message}",
            error_type=error_type,
            run_id=self.run_id,
            thread_id=self.thread_id,
            body=value,
        )
