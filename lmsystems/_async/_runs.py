"""Runs: stream, create, wait, list, get, cancel, join and delete; on a thread or stateless (thread=None)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Literal, Unpack, cast, get_args, overload

from .. import _validation as check
from .._answers import field_of, list_answer, object_answer
from .._arguments import (
    NOT_GIVEN,
    CancelAction,
    CancelStatus,
    Input,
    NotGiven,
    RunKwargs,
    RunStatus,
    StreamModes,
    StreamRunKwargs,
    checked_keywords,
)
from .._exceptions import InputError, NothingToResumeError, ThreadBusyError
from .._interrupts import interrupts_in_state
from .._operation import operation
from .._payloads import RunOptions
from .._requests import RequestSpec, build
from .._run_results import run_location, run_output
from .._stream_parts import StreamProgress
from ._core import AsyncCore
from ._strategies import AsyncRunStrategy
from ._stream import AsyncRunStream

if TYPE_CHECKING:
    from .._stream_part_types import AnyStreamPart, AnySubgraphPart
    from .._types import Run, Thread


@checked_keywords
class AsyncRuns:
    """Runs of the deployment's graph. `thread=None` makes a stateless run on a temporary thread."""

    def __init__(self, core: AsyncCore) -> None:
        self._core = core

    @overload
    def stream(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes = "values",
        is_background: bool = False,
        stream_subgraphs: Literal[False] | None = None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[StreamRunKwargs],
    ) -> AsyncRunStream[AnyStreamPart]: ...
    @overload
    def stream(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes = "values",
        is_background: bool = False,
        stream_subgraphs: bool | None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[StreamRunKwargs],
    ) -> AsyncRunStream[AnyStreamPart | AnySubgraphPart]: ...
    @operation("stream_run", "stream_stateless_run", "create_run", "join_run_stream")
    def stream(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes = "values",
        is_background: bool = False,
        stream_subgraphs: bool | None = None,
        idle_timeout: float | EllipsisType | None = ...,
        deadline: float | EllipsisType | None = ...,
        max_reconnects: int | EllipsisType = ...,
        **options: Unpack[StreamRunKwargs],
    ) -> AsyncRunStream[AnyStreamPart | AnySubgraphPart]:
        """Start a run and stream its parts. Arguments are checked now; the request is sent on first read.

        A run on a thread streams resumably: a dropped connection is repaired without losing or repeating
        an event (see AsyncRunStream). With `is_background=True` the run is created in the background and
        its stream joined from its first event: leaving the loop early leaves the run running on the
        server. `idle_timeout`, `deadline` and `max_reconnects` override the client's stream limits.
        The other options are those of the client's `stream_run`; with `stream_subgraphs=True` the stream
        yields the subgraphs' parts too (typed `AnyStreamPart | AnySubgraphPart`: narrow by `part.mode`).
        """
        thread_id = check.thread_id(thread) if thread is not None else None
        if thread_id is not None:
            options.setdefault("stream_resumable", True)
        run = RunOptions.check(
            input=input, stream_mode=stream_mode, stream_subgraphs=stream_subgraphs, **options
        )
        self._core.assistant_for_run(run.assistant_id)
        if thread_id is None:
            run.check_stateless()
        if is_background and thread_id is None:
            raise InputError("is_background=True needs a thread: background runs are joined by thread")
        limits = self._core.settings.stream_limits.override(
            idle_timeout=idle_timeout, deadline=deadline, max_reconnects=max_reconnects
        )
        core = self._core

        async def opener(stream: AsyncRunStrategy) -> RequestSpec:
            deployment = await core.deployment()
            if thread_id is not None and run.command is not None and "resume" in run.command:
                state = build("threads.get_thread_state", thread_id)
                if not interrupts_in_state(object_answer(await core.request(state), call=state)):
                    raise NothingToResumeError(
                        f"thread {thread_id} waits on no interrupt: there is nothing to resume"
                    )
            if thread_id is None:
                body = run.body(deployment, stateless=True, streaming=True)
                return build(
                    "stateless_runs.stream_stateless_run", body_model="StatelessRunStreamCreate", body=body
                )
            if not is_background:
                body = run.body(deployment, stateless=False, streaming=True)
                return build("runs.stream_run", thread_id, body_model="RunStreamCreate", body=body)
            body = run.body(deployment, stateless=False, streaming=False)
            create = build("runs.create_run", thread_id, body_model="RunCreate", body=body)
            created = await core.request(create, conflict=ThreadBusyError)
            stream.progress.run_id = str(field_of(created, "run_id", call=create))
            await core.track_run(stream.progress.run_id)
            return stream.resume_spec()

        async def on_started(progress: StreamProgress) -> None:
            if not is_background:
                await core.track_run(progress.run_id)

        progress = StreamProgress(thread_id=thread_id, limits=limits, resumable=bool(run.stream_resumable))
        strategy = AsyncRunStrategy(
            progress,
            self,
            opener,
            stream_modes=run.stream_mode,
            on_started=on_started,
            conflict=ThreadBusyError,
        )
        return AsyncRunStream(core, strategy)

    @operation("create_run", "create_stateless_run")
    async def create(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes | None = None,
        **options: Unpack[RunKwargs],
    ) -> Run:
        """Start a run in the background and return it at once (status `pending`)."""
        thread_id = check.thread_id(thread) if thread is not None else None
        run = RunOptions.check(input=input, stream_mode=stream_mode, **options)
        self._core.assistant_for_run(run.assistant_id)
        if thread_id is None:
            run.check_stateless()
        deployment = await self._core.deployment()
        if thread_id is None:
            spec = build(
                "stateless_runs.create_stateless_run",
                body_model="StatelessRunCreate",
                body=run.body(deployment, stateless=True, streaming=False),
            )
        else:
            spec = build(
                "runs.create_run",
                thread_id,
                body_model="RunCreate",
                body=run.body(deployment, stateless=False, streaming=False),
            )
        created = cast("Run", await self._core.request(spec, conflict=ThreadBusyError))
        await self._core.track_run(str(field_of(created, "run_id", call=spec)))
        return created

    @operation("create_run_batch")
    async def create_batch(self, runs: Sequence[Mapping[str, Any]]) -> list[Run]:
        """Start many stateless runs at once; each dict takes the options of `create` (input, config, ...)."""
        if not runs:
            raise InputError("runs must name at least one run")
        checked = [
            RunOptions.from_mapping(options, argument=f"runs[{index}]").check_stateless()
            for index, options in enumerate(runs)
        ]
        for run in checked:
            self._core.assistant_for_run(run.assistant_id)
        deployment = await self._core.deployment()
        bodies = [run.body(deployment, stateless=True, streaming=False) for run in checked]
        spec = build("stateless_runs.create_run_batch", body_model="StatelessRunCreate", body=bodies)
        created = cast("list[Run]", await self._core.request(spec, conflict=ThreadBusyError))
        for item in created:
            await self._core.track_run(str(field_of(item, "run_id", call=spec)))
        return created

    @operation("wait_run", "wait_stateless_run")
    async def wait(
        self,
        thread: Thread | str | None = None,
        input: Input | NotGiven = NOT_GIVEN,
        *,
        stream_mode: StreamModes | None = None,
        **options: Unpack[RunKwargs],
    ) -> Any:
        """Run and return the thread's final values; a failed run raises RunError."""
        thread_id = check.thread_id(thread) if thread is not None else None
        run = RunOptions.check(input=input, stream_mode=stream_mode, **options)
        self._core.assistant_for_run(run.assistant_id)
        if thread_id is None:
            run.check_stateless()
        deployment = await self._core.deployment()
        if thread_id is None:
            body = run.body(deployment, stateless=True, streaming=True)
            spec = build(
                "stateless_runs.wait_stateless_run", body_model="StatelessRunStreamCreate", body=body
            )
        else:
            body = run.body(deployment, stateless=False, streaming=True)
            spec = build("runs.wait_run", thread_id, body_model="RunStreamCreate", body=body)
        answer, headers = await self._core.request_with_headers(spec, conflict=ThreadBusyError)
        # The answer names the run: `Content-Location: /threads/<thread>/runs/<run>`.
        run_thread_id, run_id = run_location(headers.get("content-location"))
        await self._core.track_run(run_id)
        return run_output(answer, run_id=run_id, thread_id=thread_id or run_thread_id)

    @operation("list_runs")
    async def list(
        self, thread: Thread | str, *, limit: int = 10, offset: int = 0, status: RunStatus | None = None
    ) -> list[Run]:
        """The thread's runs, newest first."""
        spec = build(
            "runs.list_runs",
            check.thread_id(thread),
            limit=check.positive_int(limit, argument="limit"),
            offset=check.positive_int(offset, argument="offset", allow_zero=True),
            status=status,
        )
        return cast("list[Run]", await self._core.request(spec))

    @operation("get_run")
    async def get(self, thread: Thread | str, run_id: str) -> Run:
        """Get a run."""
        spec = build("runs.get_run", check.thread_id(thread), check.identifier(run_id, argument="run_id"))
        return cast("Run", await self._core.request(spec))

    @operation("cancel_run")
    async def cancel(
        self, thread: Thread | str, run_id: str, *, wait: bool = False, action: CancelAction = "interrupt"
    ) -> None:
        """Cancel a run: `action="interrupt"` keeps what it wrote, `"rollback"` deletes it."""
        spec = build(
            "runs.cancel_run",
            check.thread_id(thread),
            check.identifier(run_id, argument="run_id"),
            wait=wait or None,
            action=action,
        )
        await self._core.request(spec)

    @operation("cancel_runs")
    async def cancel_many(
        self,
        *,
        thread: Thread | str | None = None,
        run_ids: Sequence[str] | None = None,
        status: CancelStatus | None = None,
        action: CancelAction = "interrupt",
    ) -> None:
        """Cancel many runs: by ids (with their thread), all active runs of a thread, or all with a status.

        `status` is "pending", "running" or "all"; `action` "interrupt" or "rollback".
        """
        check.choice(status, argument="status", choices=get_args(CancelStatus))
        check.choice(action, argument="action", choices=get_args(CancelAction))
        thread_id = check.thread_id(thread) if thread is not None else None
        ids = [check.identifier(r, argument="run_ids[]") for r in run_ids] if run_ids is not None else None
        if ids is not None and thread_id is None:
            raise InputError("run_ids need their thread: pass thread=...")
        if thread_id is None and status is None:
            raise InputError("cancel_many needs thread= (with or without run_ids=) or status=")
        if thread_id is not None and ids is None:
            # The server cancels a thread's runs by id only: find the active ones.
            runs = await self.list(thread_id, limit=100)
            wanted = {"pending", "running"} if status in (None, "all") else {status}
            listed = list_answer(runs, call=f"GET /threads/{thread_id}/runs", items_with=("run_id", "status"))
            ids = [item["run_id"] for item in listed if item["status"] in wanted]
            if not ids:
                return
        body = check.body(thread_id=thread_id, run_ids=ids, status=status if ids is None else None)
        spec = build("runs.cancel_runs", body_model="RunsCancelRequest", body=body, action=action)
        await self._core.request(spec)

    @operation("join_run")
    async def join(self, thread: Thread | str, run_id: str) -> Any:
        """Wait for a run to end and return the thread's final values; a failed run raises RunError."""
        thread_id = check.thread_id(thread)
        run_id = check.identifier(run_id, argument="run_id")
        answer = await self._core.request(build("runs.join_run", thread_id, run_id))
        return run_output(answer, run_id=run_id, thread_id=thread_id)

    @operation("join_run_stream")
    def join_stream(
        self,
        thread: Thread | str,
        run_id: str,
        *,
        stream_mode: StreamModes | None = None,
        last_event_id: str | None = None,
        cancel_on_disconnect: bool = False,
    ) -> AsyncRunStream[AnyStreamPart | AnySubgraphPart]:
        """Stream the parts of a run that is already running; with `last_event_id`, replay those after it.

        The parts are typed `AnyStreamPart | AnySubgraphPart` (a run created with `stream_subgraphs=True`
        streams its subgraphs' parts too): narrow them by `part.mode`.

        A dropped connection is repaired with `Last-Event-ID`; that replays what was missed only when the
        run was created with `stream_resumable=True` (as `stream` and `is_background=True` do).
        """
        thread_id = check.thread_id(thread)
        run_id = check.identifier(run_id, argument="run_id")
        modes = check.stream_modes(stream_mode) if stream_mode is not None else None
        core = self._core

        async def opener(stream: AsyncRunStrategy) -> RequestSpec:
            return stream.resume_spec(cancel_on_disconnect=cancel_on_disconnect or None)

        progress = StreamProgress(
            thread_id=thread_id, limits=core.settings.stream_limits, resumable=True, start_after=last_event_id
        )
        progress.run_id = run_id
        strategy = AsyncRunStrategy(progress, self, opener, stream_modes=modes, metadata=False)
        return AsyncRunStream(core, strategy)

    @operation("delete_run")
    async def delete(self, thread: Thread | str, run_id: str) -> None:
        """Delete a finished run."""
        spec = build("runs.delete_run", check.thread_id(thread), check.identifier(run_id, argument="run_id"))
        await self._core.request(spec)
