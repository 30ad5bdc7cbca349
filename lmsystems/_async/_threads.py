"""Threads: create, read, search, copy, prune, delete; their state, history, interrupts and live stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack, cast, get_args

from .. import _validation as check
from .._answers import field_of, object_answer
from .._arguments import (
    NewThread,
    PruneStrategy,
    SortOrder,
    ThreadField,
    ThreadSortBy,
    ThreadStatuses,
    ThreadStreamMode,
    checked_keywords,
)
from .._choices import choices
from .._exceptions import APIResponseError
from .._ids import new_uuid7
from .._interrupts import interrupts_in_state
from .._operation import operation
from .._requests import RequestSpec, build
from .._stream_parts import StreamProgress
from .._types import StateUpdateResult, ThreadStatus
from ._core import AsyncCore
from ._runs import AsyncRuns
from ._strategies import AsyncThreadStrategy
from ._stream import AsyncRunStream

if TYPE_CHECKING:
    from .._stream_part_types import AnyStreamPart, AnySubgraphPart
    from .._types import Interrupt, Thread, ThreadState


@checked_keywords
class AsyncThreads:
    """Threads of the deployment. Every `thread` argument is a thread dict or a thread id."""

    def __init__(self, core: AsyncCore) -> None:
        self._core = core

    @operation("create_thread")
    async def create(self, **options: Unpack[NewThread]) -> Thread:
        """Create a thread (with `thread_id` and `if_exists="do_nothing"`, get-or-create it).

        Options: `metadata`, `thread_id`, `if_exists`, `ttl`, `supersteps` (see `NewThread`). Without
        `thread_id` the client chooses the id (a UUID v7, as the server would) and asks for get-or-create,
        so that the request can be sent again after a failure that hid the answer.
        """
        metadata, thread_id = options.get("metadata"), options.get("thread_id")
        if_exists, supersteps = options.get("if_exists"), options.get("supersteps")
        if thread_id is None:
            thread_id, if_exists = new_uuid7(), if_exists or "do_nothing"
        body = check.body(
            metadata=check.mapping(metadata, argument="metadata"),
            thread_id=check.identifier(thread_id, argument="thread_id"),
            if_exists=check.choice(
                if_exists, argument="if_exists", choices=choices("ThreadCreate", "if_exists")
            ),
            ttl=check.mapping(options.get("ttl"), argument="ttl"),
            supersteps=check.json_value(list(supersteps), argument="supersteps") if supersteps else None,
        )
        spec = build("threads.create_thread", body_model="ThreadCreate", body=body)
        if if_exists == "do_nothing":
            spec = spec.get_or_create()
        return cast("Thread", await self._core.request(spec))

    @operation("get_thread")
    async def get(self, thread: Thread | str, *, include: Sequence[str] | None = None) -> Thread:
        """Get a thread (`include=["ttl"]` adds its time-to-live)."""
        spec = build(
            "threads.get_thread", check.thread_id(thread), include=",".join(include) if include else None
        )
        return cast("Thread", await self._core.request(spec))

    @operation("get_thread_storage")
    async def get_storage(self, thread: Thread | str) -> dict[str, Any]:
        """The bytes the thread's checkpoints occupy in the server's built-in checkpointer, by section."""
        spec = build("threads.get_thread_storage", check.thread_id(thread))
        return cast("dict[str, Any]", await self._core.request(spec))

    @operation("patch_thread")
    async def update(
        self,
        thread: Thread | str,
        *,
        metadata: dict[str, Any] | None = None,
        ttl: dict[str, Any] | None = None,
    ) -> Thread:
        """Merge metadata into a thread, or change its time-to-live."""
        body = check.body(
            metadata=check.mapping(metadata, argument="metadata"), ttl=check.mapping(ttl, argument="ttl")
        )
        spec = build("threads.patch_thread", check.thread_id(thread), body_model="ThreadPatch", body=body)
        return cast("Thread", await self._core.request(spec))

    @operation("delete_thread")
    async def delete(self, thread: Thread | str) -> None:
        """Delete a thread with its state and runs."""
        await self._core.request(build("threads.delete_thread", check.thread_id(thread)))

    @operation("search_threads")
    async def search(
        self,
        *,
        metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        status: ThreadStatuses | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: ThreadSortBy | None = None,
        sort_order: SortOrder | None = None,
        select: Sequence[ThreadField] | None = None,
        extract: dict[str, str] | None = None,
    ) -> list[Thread]:
        """Search threads by metadata, values, status or ids."""
        body = check.body(
            metadata=check.mapping(metadata, argument="metadata"),
            values=check.mapping(values, argument="values"),
            status=check.choice(status, argument="status", choices=choices("ThreadSearchRequest", "status")),
            ids=list(ids) if ids is not None else None,
            limit=check.positive_int(limit, argument="limit"),
            offset=check.positive_int(offset, argument="offset", allow_zero=True),
            sort_by=check.choice(
                sort_by, argument="sort_by", choices=choices("ThreadSearchRequest", "sort_by")
            ),
            sort_order=check.choice(
                sort_order, argument="sort_order", choices=choices("ThreadSearchRequest", "sort_order")
            ),
            select=check.field_names(
                select, argument="select", choices=choices("ThreadSearchRequest", "select")
            ),
            extract=check.mapping(extract, argument="extract"),
        )
        spec = build("threads.search_threads", body_model="ThreadSearchRequest", body=body)
        return cast("list[Thread]", await self._core.request(spec))

    @operation("count_threads")
    async def count(
        self,
        *,
        metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        status: ThreadStatuses | None = None,
    ) -> int:
        """Count threads matching a filter."""
        body = check.body(
            metadata=check.mapping(metadata, argument="metadata"),
            values=check.mapping(values, argument="values"),
            status=check.choice(status, argument="status", choices=choices("ThreadSearchRequest", "status")),
        )
        spec = build("threads.count_threads", body_model="ThreadCountRequest", body=body)
        return cast(int, await self._core.request(spec))

    @operation("copy_thread")
    async def copy(self, thread: Thread | str) -> Thread:
        """Copy a thread, with its whole history, into a new thread."""
        return cast("Thread", await self._core.request(build("threads.copy_thread", check.thread_id(thread))))

    @operation("prune_threads")
    async def prune(self, threads: Sequence[Thread | str], *, strategy: PruneStrategy = "delete") -> int:
        """Delete threads (`strategy="delete"`) or only their old checkpoints (`"keep_latest"`)."""
        body = {
            "thread_ids": [check.thread_id(t, argument="threads[]") for t in threads],
            "strategy": check.choice(
                strategy, argument="strategy", choices=choices("ThreadPruneRequest", "strategy")
            ),
        }
        spec = build("threads.prune_threads", body_model="ThreadPruneRequest", body=body)
        answer = await self._core.request(spec)
        return int(field_of(answer, "pruned_count", call=spec))

    @operation("get_thread_state", "get_thread_state_at_checkpoint", "get_thread_state_for_checkpoint")
    async def get_state(
        self,
        thread: Thread | str,
        *,
        checkpoint_id: str | None = None,
        checkpoint: dict[str, Any] | None = None,
        subgraphs: bool = False,
    ) -> ThreadState:
        """The thread's state: the latest, or at a checkpoint (by id, or by checkpoint config)."""
        thread_id = check.thread_id(thread)
        spec: RequestSpec
        if checkpoint is not None:
            body = {"checkpoint": check.mapping(checkpoint, argument="checkpoint"), "subgraphs": subgraphs}
            spec = build(
                "threads.get_thread_state_for_checkpoint",
                thread_id,
                body_model="ThreadStateCheckpointRequest",
                body=body,
            )
        elif checkpoint_id is not None:
            spec = build(
                "threads.get_thread_state_at_checkpoint",
                thread_id,
                check.identifier(checkpoint_id, argument="checkpoint_id"),
                subgraphs=subgraphs or None,
            )
        else:
            spec = build("threads.get_thread_state", thread_id, subgraphs=subgraphs or None)
        return cast("ThreadState", await self._core.request(spec))

    @operation("update_thread_state")
    async def update_state(
        self,
        thread: Thread | str,
        values: Any,
        *,
        as_node: str | None = None,
        checkpoint_id: str | None = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> StateUpdateResult:
        """Write values into the state as if `as_node` had just run; returns the new checkpoint and its id."""
        body = check.body(
            values=check.json_value(values, argument="values"),
            as_node=check.identifier(as_node, argument="as_node") if as_node is not None else None,
            checkpoint_id=check.identifier(checkpoint_id, argument="checkpoint_id")
            if checkpoint_id
            else None,
            checkpoint=check.mapping(checkpoint, argument="checkpoint"),
        )
        if values is None:
            body["values"] = None
        spec = build(
            "threads.update_thread_state", check.thread_id(thread), body_model="ThreadStateUpdate", body=body
        )
        answer = await self._core.request(spec)
        checkpoint_config = object_answer(field_of(answer, "checkpoint", call=spec), call=spec)
        return cast(StateUpdateResult, {**answer, "checkpoint_id": checkpoint_config.get("checkpoint_id")})

    @operation("search_thread_history", "get_thread_history")
    async def get_history(
        self,
        thread: Thread | str,
        *,
        limit: int = 10,
        before: str | dict[str, Any] | None = None,
        filter: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> list[ThreadState]:
        """Past states of the thread, newest first.

        `before` is a checkpoint id (or checkpoint dict); `filter` matches checkpoint metadata, e.g.
        `{"source": "update"}` (states written by update_state) or `{"step": 2}`.
        """
        thread_id = check.thread_id(thread)
        limit = check.positive_int(limit, argument="limit")
        if filter is None and checkpoint is None and (before is None or isinstance(before, str)):
            spec = build("threads.get_thread_history", thread_id, limit=limit, before=before)
        else:
            body = check.body(
                limit=limit,
                before=check.checkpoint_config(before, argument="before"),
                metadata=check.mapping(filter, argument="filter"),
                checkpoint=check.mapping(checkpoint, argument="checkpoint"),
            )
            spec = build(
                "threads.search_thread_history", thread_id, body_model="ThreadHistoryRequest", body=body
            )
        return cast("list[ThreadState]", await self._core.request(spec))

    async def get_status(self, thread: Thread | str) -> ThreadStatus:
        """The thread's status: idle, busy, interrupted or error."""
        call = f"GET /threads/{check.thread_id(thread)}"
        status = field_of(await self.get(thread), "status", call=call)
        try:
            return ThreadStatus(status)
        except ValueError:
            raise APIResponseError(
                f"{call}: the server answered an unknown thread status {status!r}"
            ) from None

    async def get_interrupts(self, thread: Thread | str) -> list[Interrupt]:
        """The interrupts the thread waits on (each with its `id` and `value`); empty when none."""
        return interrupts_in_state(await self.get_state(thread))

    @operation("join_thread_stream")
    def join_stream(
        self,
        thread: Thread | str,
        *,
        last_event_id: str | None = None,
        stream_modes: Sequence[ThreadStreamMode] | None = None,
    ) -> AsyncRunStream[AnyStreamPart | AnySubgraphPart]:
        """Follow everything that happens on the thread, across runs, as a stream of parts.

        `stream_modes`: run_modes (the default: every event of every run), lifecycle, state_update.
        With `last_event_id`, it starts after that event. A dropped connection is repaired run by run
        (see AsyncRunStream); the stream ends only when the server ends it or you leave it.
        """
        thread_id = check.thread_id(thread)
        last_event_id = check.event_id(last_event_id)
        progress = StreamProgress(
            thread_id=thread_id,
            limits=self._core.settings.stream_limits,
            resumable=True,
            start_after=last_event_id,
        )
        strategy = AsyncThreadStrategy(
            progress,
            AsyncRuns(self._core),
            last_event_id=last_event_id,
            stream_modes=check.field_names(
                stream_modes, argument="stream_modes", choices=get_args(ThreadStreamMode)
            )
            or None,
        )
        return AsyncRunStream(self._core, strategy)
