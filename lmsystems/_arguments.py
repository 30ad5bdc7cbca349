"""The types of the public calls' arguments, and the run-time check of keyword names.

The allowed values of every choice come from the spec (`lmsystems_generated.agent_server_literals`,
generated from openapi/agent-server.yaml): `StreamModeName`, `MultitaskStrategyName`, ... are those
`Literal`s; our string enums (`StreamMode.VALUES`, ...) are accepted wherever their values are.
"""

from __future__ import annotations

import difflib
import enum
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, Protocol, TypeAlias, TypedDict, TypeVar

from lmsystems_generated.agent_server_literals import (
    AssistantField,
    AssistantSortBy,
    CancelAction,
    CancelStatus,
    CronField,
    CronSortBy,
    Durability,
    IfExists,
    IfNotExists,
    OnCompletion,
    OnDisconnect,
    PruneStrategy,
    RunStatus,
    SortOrder,
    ThreadField,
    ThreadSortBy,
    ThreadStreamMode,
)
from lmsystems_generated.agent_server_literals import MultitaskStrategy as MultitaskStrategyName
from lmsystems_generated.agent_server_literals import StreamMode as StreamModeName
from lmsystems_generated.agent_server_literals import ThreadStatus as ThreadStatusName

from ._exceptions import ArgumentError
from ._types import MultitaskStrategy, StreamMode, ThreadStatus

__all__ = [
    "NOT_GIVEN",
    "ArgumentError",
    "AssistantField",
    "AssistantSortBy",
    "CancelAction",
    "CancelStatus",
    "Command",
    "CommandLike",
    "CronField",
    "CronSortBy",
    "Durability",
    "IfExists",
    "IfNotExists",
    "Input",
    "MultitaskStrategies",
    "MultitaskStrategyName",
    "NewThread",
    "NotGiven",
    "OnCompletion",
    "OnDisconnect",
    "PruneStrategy",
    "RunExtras",
    "RunKwargs",
    "RunSettings",
    "RunStatus",
    "SessionTransport",
    "SortOrder",
    "StreamModeName",
    "StreamModes",
    "StreamRunKwargs",
    "StreamRunSettings",
    "ThreadField",
    "ThreadSortBy",
    "ThreadStatusName",
    "ThreadStatuses",
    "ThreadStreamMode",
    "checked_keywords",
]


class NotGiven(enum.Enum):
    """The type of `NOT_GIVEN`: an argument that was left out (None means something: no input)."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


#: An argument that was left out (`input=None` is meaningful: continue from a checkpoint).
NOT_GIVEN: Final = NotGiven.NOT_GIVEN

#: A run's input: the graph's input state (usually a dict), or None to continue from a checkpoint.
Input: TypeAlias = Mapping[str, Any] | Sequence[Any] | str | int | float | bool | None

#: How a thread session (`thread_stream`) talks to the server.
SessionTransport: TypeAlias = Literal["sse", "websocket"]

#: One stream mode or several: the spec's names, or `StreamMode` members.
StreamModes: TypeAlias = StreamModeName | StreamMode | Sequence[StreamModeName | StreamMode]
MultitaskStrategies: TypeAlias = MultitaskStrategyName | MultitaskStrategy
ThreadStatuses: TypeAlias = ThreadStatusName | ThreadStatus


class Command(TypedDict, total=False):
    """What `command=` sends to a run: `{"resume": value}` answers an interrupt (a dict of interrupt
    ids to values answers several); `update` writes to the state; `goto` names the next nodes."""

    resume: Any
    update: Mapping[str, Any] | Sequence[tuple[str, Any]]
    goto: str | Sequence[str]


class CommandLike(Protocol):
    """LangGraph's own `Command` object (`from langgraph.types import Command`) is accepted too."""

    @property
    def resume(self) -> Any: ...
    @property
    def update(self) -> Any: ...
    @property
    def goto(self) -> Any: ...


class RunExtras(TypedDict, total=False):
    """Run options beyond the documented ones (`stream_run(..., durability="exit")`)."""

    checkpoint: Mapping[str, Any] | None
    context: Mapping[str, Any] | None
    stream_resumable: bool | None
    if_not_exists: IfNotExists | None
    on_disconnect: OnDisconnect | None
    on_completion: OnCompletion | None
    webhook: str | None
    after_seconds: float | None
    durability: Durability | None


class StreamRunSettings(RunExtras, total=False):
    """Every run option but the command, the stream modes and `stream_subgraphs` (which a streaming call
    takes as its own keyword: it decides the type of the stream's parts)."""

    multitask_strategy: MultitaskStrategies | None
    checkpoint_id: str | None
    config: Mapping[str, Any] | None
    interrupt_before: Literal["*"] | Sequence[str] | None
    interrupt_after: Literal["*"] | Sequence[str] | None
    metadata: Mapping[str, Any] | None
    assistant_id: str | None


class RunSettings(StreamRunSettings, total=False):
    """Every run option but the command and the stream modes."""

    stream_subgraphs: bool | None


class StreamRunKwargs(StreamRunSettings, total=False):
    """Every run option but the stream modes and `stream_subgraphs` (`runs.stream`)."""

    command: Command | CommandLike | None


class RunKwargs(RunSettings, total=False):
    """Every run option but the stream modes (`runs.create`, `runs.wait`)."""

    command: Command | CommandLike | None


class NewThread(TypedDict, total=False):
    """What a new thread takes (`create_thread`, `threads.create`): `metadata`; `thread_id` (None: the
    client picks a UUID v7 and creates it get-or-create, so a lost answer can be asked again);
    `if_exists` ("raise" or "do_nothing": get-or-create); `ttl` (`{"strategy": ..., "ttl": minutes}`);
    `supersteps` (state updates to apply at creation)."""

    metadata: Mapping[str, Any] | None
    thread_id: str | None
    if_exists: IfExists | None
    ttl: Mapping[str, Any] | None
    supersteps: Sequence[Mapping[str, Any]] | None


_TYPED_KWARGS: dict[str, type] = {
    "Unpack[NewThread]": NewThread,
    "Unpack[RunExtras]": RunExtras,
    "Unpack[RunSettings]": RunSettings,
    "Unpack[RunKwargs]": RunKwargs,
    "Unpack[StreamRunSettings]": StreamRunSettings,
    "Unpack[StreamRunKwargs]": StreamRunKwargs,
}

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def _accepted(function: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword names `function` accepts (None: any, through a plain **kwargs)."""
    names: set[str] = set()
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            typed = _TYPED_KWARGS.get(str(parameter.annotation))
            if typed is None:
                return None
            names.update(typed.__annotations__)
            for base in typed.__mro__:
                names.update(getattr(base, "__annotations__", {}))
        elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
            names.add(parameter.name)
    return frozenset(names)


def _checked(function: F, call: str) -> F:
    accepted = _accepted(function)
    if accepted is None:
        return function

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.keys() <= accepted:
            unknown = sorted(set(kwargs) - accepted)[0]
            close = difflib.get_close_matches(unknown, accepted - {"self"}, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ArgumentError(f"{call}() got an unexpected keyword argument {unknown!r}{hint}")
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def checked_keywords(cls: C) -> C:
    """Make every public method of `cls` refuse an unknown keyword with an ArgumentError (an InputError)
    that names it, before anything runs."""
    for name, member in list(vars(cls).items()):
        if name == "__init__" and inspect.isfunction(member):
            setattr(cls, name, _checked(member, cls.__name__.lstrip("_")))
        elif not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _checked(member, name))
        elif isinstance(member, classmethod) and not name.startswith("_"):
            setattr(cls, name, classmethod(_checked(member.__func__, name)))
    return cls
