"""Crons: run the graph on a schedule, on one thread or on a new thread each time."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from .. import _validation as check
from .._arguments import (
    CronField,
    CronSortBy,
    Durability,
    Input,
    MultitaskStrategies,
    OnCompletion,
    SortOrder,
    StreamModes,
    checked_keywords,
)
from .._choices import choices
from .._exceptions import InputError
from .._operation import operation
from .._payloads import cron_fields, merged_config
from .._requests import RequestSpec, build
from ._core import AsyncCore

if TYPE_CHECKING:
    from .._types import Cron, Thread


@checked_keywords
class AsyncCrons:
    """Scheduled runs of the deployment's graph. Every `thread` argument is a thread dict or a thread id."""

    def __init__(self, core: AsyncCore) -> None:
        self._core = core

    @operation("create_cron", "create_thread_cron")
    async def create(
        self,
        schedule: str,
        *,
        input: Input = None,
        thread: Thread | str | None = None,
        assistant_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        webhook: str | None = None,
        interrupt_before: Literal["*"] | Sequence[str] | None = None,
        interrupt_after: Literal["*"] | Sequence[str] | None = None,
        multitask_strategy: MultitaskStrategies | None = None,
        on_run_completed: OnCompletion | None = None,
        end_time: datetime.datetime | str | None = None,
        timezone: str | None = None,
        enabled: bool | None = None,
        stream_mode: StreamModes | None = None,
        durability: Durability | None = None,
    ) -> Cron:
        """Run the graph on a cron `schedule` (e.g. `"0 9 * * 1"`): on `thread`, or on a new thread each time.

        `multitask_strategy` applies to thread crons only, `on_run_completed` (keep or delete each run's
        thread) to crons without a thread. The deployment's default configuration goes under `config`.
        """
        if schedule is None:
            raise InputError("schedule must be a cron expression such as '*/5 * * * *', not None")
        body = cron_fields(
            schedule=schedule,
            input=input,
            metadata=metadata,
            context=context,
            webhook=webhook,
            interrupt_before=interrupt_before,
            interrupt_after=interrupt_after,
            end_time=end_time,
            timezone=timezone,
            enabled=enabled,
            stream_mode=stream_mode,
            durability=durability,
        )
        config = check.mapping(config, argument="config")
        if assistant_id is not None:
            assistant_id = check.identifier(assistant_id, argument="assistant_id")
        self._core.assistant_for_run(assistant_id)
        thread_id = check.thread_id(thread) if thread is not None else None
        if thread_id is not None:
            if on_run_completed is not None:
                raise InputError(
                    "on_run_completed is for crons without a thread; leave it out with thread=..."
                )
            if multitask_strategy is not None:
                body["multitask_strategy"] = check.multitask_strategy(multitask_strategy)
        else:
            if multitask_strategy is not None:
                raise InputError("multitask_strategy needs a thread: pass thread=... (or leave it out)")
            completed = check.choice(
                on_run_completed,
                argument="on_run_completed",
                choices=choices("CronCreate", "on_run_completed"),
            )
            if completed is not None:
                body["on_run_completed"] = completed
        deployment = await self._core.deployment()
        body["assistant_id"] = assistant_id or deployment.assistant_id
        merged = merged_config(deployment.configurable, config)
        if merged is not None:
            body["config"] = merged
        spec: RequestSpec
        if thread_id is not None:
            spec = build("crons.create_thread_cron", thread_id, body_model="ThreadCronCreate", body=body)
        else:
            spec = build("crons.create_cron", body_model="CronCreate", body=body)
        return cast("Cron", await self._core.request(spec))

    @operation("search_crons")
    async def search(
        self,
        *,
        assistant_id: str | None = None,
        thread: Thread | str | None = None,
        enabled: bool | None = None,
        metadata: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: CronSortBy | None = None,
        sort_order: SortOrder | None = None,
        select: Sequence[CronField] | None = None,
    ) -> list[Cron]:
        """Search crons by assistant, thread, enabled flag or metadata."""
        body = check.body(
            assistant_id=check.identifier(assistant_id, argument="assistant_id")
            if assistant_id is not None
            else None,
            thread_id=check.thread_id(thread) if thread is not None else None,
            enabled=check.flag(enabled, argument="enabled"),
            metadata=check.mapping(metadata, argument="metadata"),
            limit=check.positive_int(limit, argument="limit"),
            offset=check.positive_int(offset, argument="offset", allow_zero=True),
            sort_by=check.choice(
                sort_by, argument="sort_by", choices=choices("CronSearchRequest", "sort_by")
            ),
            sort_order=check.choice(
                sort_order, argument="sort_order", choices=choices("CronSearchRequest", "sort_order")
            ),
            select=check.field_names(
                select, argument="select", choices=choices("CronSearchRequest", "select")
            ),
        )
        spec = build("crons.search_crons", body_model="CronSearchRequest", body=body)
        return cast("list[Cron]", await self._core.request(spec))

    @operation("count_crons")
    async def count(
        self,
        *,
        assistant_id: str | None = None,
        thread: Thread | str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Count crons matching a filter."""
        body = check.body(
            assistant_id=check.identifier(assistant_id, argument="assistant_id")
            if assistant_id is not None
            else None,
            thread_id=check.thread_id(thread) if thread is not None else None,
            metadata=check.mapping(metadata, argument="metadata"),
        )
        spec = build("crons.count_crons", body_model="CronCountRequest", body=body)
        return cast(int, await self._core.request(spec))

    @operation("get_cron")
    async def get(self, cron_id: str) -> Cron:
        """Get a cron."""
        return cast("Cron", await self._core.request(build("crons.get_cron", check.cron_id(cron_id))))

    @operation("patch_cron")
    async def update(
        self,
        cron_id: str,
        *,
        schedule: str | None = None,
        input: Input = None,
        metadata: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        webhook: str | None = None,
        interrupt_before: Literal["*"] | Sequence[str] | None = None,
        interrupt_after: Literal["*"] | Sequence[str] | None = None,
        on_run_completed: OnCompletion | None = None,
        end_time: datetime.datetime | str | None = None,
        timezone: str | None = None,
        enabled: bool | None = None,
        stream_mode: StreamModes | None = None,
        durability: Durability | None = None,
    ) -> Cron:
        """Change a cron: its schedule, what each run gets, or whether it is enabled (None = unchanged).

        A new `config` gets the deployment's default configuration under it, as on create.
        """
        body = cron_fields(
            schedule=schedule,
            input=input,
            metadata=metadata,
            context=context,
            webhook=webhook,
            interrupt_before=interrupt_before,
            interrupt_after=interrupt_after,
            end_time=end_time,
            timezone=timezone,
            enabled=enabled,
            stream_mode=stream_mode,
            durability=durability,
        )
        completed = check.choice(
            on_run_completed, argument="on_run_completed", choices=choices("CronCreate", "on_run_completed")
        )
        if completed is not None:
            body["on_run_completed"] = completed
        identifier = check.cron_id(cron_id)
        config = check.mapping(config, argument="config")
        if config is not None:
            deployment = await self._core.deployment()
            body["config"] = merged_config(deployment.configurable, config)
        spec = build("crons.patch_cron", identifier, body_model="CronPatch", body=body)
        return cast("Cron", await self._core.request(spec))

    @operation("delete_cron")
    async def delete(self, cron_id: str) -> None:
        """Delete a cron: it starts no more runs."""
        await self._core.request(build("crons.delete_cron", check.cron_id(cron_id)))
