"""Validate run arguments and build run request bodies (pure, shared by sync and async)."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _validation as check
from ._arguments import NOT_GIVEN, StreamModeName
from ._choices import choices
from ._exceptions import ArgumentError, InputError
from ._types import Deployment

__all__ = ["NOT_GIVEN", "RunOptions", "merged_config"]


def _choice(value: object, field: str, typed_dict: str) -> str | None:
    """An optional request field among the values the spec allows (read from the spec only when given:
    the generated TypedDicts load on first use)."""
    if value is None:
        return None
    return check.choice(value, argument=field, choices=choices(typed_dict, field))


@dataclass(frozen=True)
class RunOptions:
    """Every option of a run, checked. Built before any request, so that bad input fails early."""

    input: Any
    stream_mode: list[StreamModeName] | None
    multitask_strategy: str | None
    checkpoint_id: str | None
    checkpoint: dict[str, Any] | None
    config: dict[str, Any] | None
    context: dict[str, Any] | None
    command: dict[str, Any] | None
    interrupt_before: str | list[str] | None
    interrupt_after: str | list[str] | None
    stream_subgraphs: bool | None
    stream_resumable: bool | None
    metadata: dict[str, Any] | None
    assistant_id: str | None
    if_not_exists: str | None
    on_disconnect: str | None
    on_completion: str | None
    webhook: str | None
    after_seconds: float | None
    durability: str | None

    @classmethod
    def check(
        cls,
        *,
        input: object = NOT_GIVEN,
        stream_mode: object = None,
        multitask_strategy: object = None,
        checkpoint_id: object = None,
        checkpoint: object = None,
        config: object = None,
        context: object = None,
        command: object = None,
        interrupt_before: object = None,
        interrupt_after: object = None,
        stream_subgraphs: object = None,
        stream_resumable: object = None,
        metadata: object = None,
        assistant_id: object = None,
        if_not_exists: object = None,
        on_disconnect: object = None,
        on_completion: object = None,
        webhook: object = None,
        after_seconds: object = None,
        durability: object = None,
    ) -> RunOptions:
        if input is not NOT_GIVEN:
            check.json_value(input, argument="input")
        if command is not None:
            command = _command(command)
        return cls(
            input=input,
            stream_mode=check.stream_modes(stream_mode) if stream_mode is not None else None,
            multitask_strategy=(
                check.multitask_strategy(multitask_strategy) if multitask_strategy is not None else None
            ),
            checkpoint_id=check.identifier(checkpoint_id, argument="checkpoint_id")
            if checkpoint_id
            else None,
            checkpoint=check.mapping(checkpoint, argument="checkpoint"),
            config=check.mapping(config, argument="config"),
            context=check.mapping(context, argument="context"),
            command=command,
            interrupt_before=check.node_selection(interrupt_before, argument="interrupt_before"),
            interrupt_after=check.node_selection(interrupt_after, argument="interrupt_after"),
            stream_subgraphs=check.flag(stream_subgraphs, argument="stream_subgraphs"),
            stream_resumable=check.flag(stream_resumable, argument="stream_resumable"),
            metadata=check.mapping(metadata, argument="metadata"),
            assistant_id=check.identifier(assistant_id, argument="assistant_id") if assistant_id else None,
            if_not_exists=_choice(if_not_exists, "if_not_exists", "RunCreate"),
            on_disconnect=_choice(on_disconnect, "on_disconnect", "RunStreamCreate"),
            on_completion=_choice(on_completion, "on_completion", "StatelessRunCreate"),
            webhook=check.identifier(webhook, argument="webhook") if webhook is not None else None,
            after_seconds=check.seconds(after_seconds, argument="after_seconds"),
            durability=_choice(durability, "durability", "RunCreateFields"),
        )

    @classmethod
    def from_mapping(cls, options: object, *, argument: str) -> RunOptions:
        """The options of one run given as a dict (e.g. an item of `runs.create_batch`), checked; a key
        that is not an option is an ArgumentError naming it."""
        if not isinstance(options, Mapping) or not all(isinstance(key, str) for key in options):
            raise InputError(f"{argument} must be a dict of run options, not {type(options).__name__}")
        unknown = sorted(set(options) - _RUN_OPTION_NAMES)
        if unknown:
            close = difflib.get_close_matches(unknown[0], _RUN_OPTION_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ArgumentError(f"{argument} has an unknown run option {unknown[0]!r}{hint}")
        return cls.check(**options)

    def check_stateless(self) -> RunOptions:
        """Refuse the options that need a thread, for a run without one."""
        for name in ("multitask_strategy", "checkpoint_id", "checkpoint", "if_not_exists"):
            if getattr(self, name) is not None:
                raise InputError(f"{name} needs a thread: pass thread=... (a run without one is stateless)")
        return self

    def body(self, deployment: Deployment, *, stateless: bool, streaming: bool) -> dict[str, Any]:
        """The JSON body of a run request for this deployment (its assistant and default configuration)."""
        body: dict[str, Any] = {"assistant_id": self.assistant_id or deployment.assistant_id}
        if self.input is not NOT_GIVEN:
            body["input"] = self.input
        config = merged_config(deployment.configurable, self.config)
        optional = {
            "command": self.command,
            "stream_mode": self.stream_mode,
            "config": config,
            "context": self.context,
            "metadata": self.metadata,
            "interrupt_before": self.interrupt_before,
            "interrupt_after": self.interrupt_after,
            "stream_subgraphs": self.stream_subgraphs,
            "stream_resumable": self.stream_resumable,
            "webhook": self.webhook,
            "after_seconds": self.after_seconds,
            "durability": self.durability,
        }
        if streaming:
            optional["on_disconnect"] = self.on_disconnect
        if stateless:
            optional["on_completion"] = self.check_stateless().on_completion
        else:
            optional.update(
                multitask_strategy=self.multitask_strategy,
                checkpoint_id=self.checkpoint_id,
                checkpoint=self.checkpoint,
                if_not_exists=self.if_not_exists,
            )
        body.update({name: value for name, value in optional.items() if value is not None})
        return body


_RUN_OPTION_NAMES = frozenset(
    name for name in inspect.signature(RunOptions.check).parameters if name not in ("cls", "self")
)


def merged_config(defaults: Mapping[str, Any], config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The run config: the deployment's default `configurable` values under the caller's own."""
    if not defaults:
        return dict(config) if config is not None else None
    merged = dict(config or {})
    merged["configurable"] = {**defaults, **(merged.get("configurable") or {})}
    return merged


def _command(value: object) -> dict[str, Any]:
    """A Command as a dict: langgraph's `Command` objects and plain dicts are both accepted."""
    if isinstance(value, Mapping):
        command = dict(value)
    elif all(hasattr(value, name) for name in ("resume", "update", "goto")):
        command = {
            name: getattr(value, name)
            for name in ("resume", "update", "goto")
            if getattr(value, name) not in (None, ())
        }
    else:
        raise InputError(f"command must be a dict like {{'resume': value}} or a Command, not {value!r}")
    unknown = set(command) - {"resume", "update", "goto"}
    if unknown:
        raise InputError(f"command has unknown keys {sorted(unknown)}; use 'resume', 'update' or 'goto'")
    return check.json_value(command, argument="command")  # type: ignore[no-any-return]


def cron_fields(
    *,
    schedule: object,
    input: Any,
    metadata: object,
    context: object,
    webhook: object,
    interrupt_before: object,
    interrupt_after: object,
    end_time: object,
    timezone: object,
    enabled: object,
    stream_mode: object,
    durability: object,
) -> dict[str, Any]:
    """The checked fields shared by creating and changing a cron (None = not given)."""
    return check.body(
        schedule=check.identifier(schedule, argument="schedule") if schedule is not None else None,
        input=check.json_value(input, argument="input"),
        metadata=check.mapping(metadata, argument="metadata"),
        context=check.mapping(context, argument="context"),
        webhook=check.identifier(webhook, argument="webhook") if webhook is not None else None,
        interrupt_before=check.node_selection(interrupt_before, argument="interrupt_before"),
        interrupt_after=check.node_selection(interrupt_after, argument="interrupt_after"),
        end_time=check.end_time(end_time),
        timezone=check.identifier(timezone, argument="timezone") if timezone is not None else None,
        enabled=check.flag(enabled, argument="enabled"),
        stream_mode=check.stream_modes(stream_mode) if stream_mode is not None else None,
        durability=check.choice(
            durability, argument="durability", choices=choices("CronFields", "durability")
        ),
    )
