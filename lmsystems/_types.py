"""Public value types: stream parts, enums, and the TypedDicts of results (plain dicts at run time)."""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from ._text import token_text

if TYPE_CHECKING:
    from lmsystems_generated.agent_server_types import (
        Assistant,
        Checkpoint,
        Cron,
        GraphDrawing,
        GraphSchemas,
        Interrupt,
        Run,
        StoreItem,
        SubgraphSchemas,
        Thread,
        ThreadState,
    )
    from lmsystems_generated.marketplace_types import GraphInfo

# The result TypedDicts come from the generated modules when first asked for (their module is the largest
# import of the SDK, and at run time they are plain dicts: only type checkers and users need the classes).
_GENERATED = {
    "Assistant": "agent_server_types",
    "Checkpoint": "agent_server_types",
    "Cron": "agent_server_types",
    "GraphDrawing": "agent_server_types",
    "GraphSchemas": "agent_server_types",
    "Interrupt": "agent_server_types",
    "Run": "agent_server_types",
    "StoreItem": "agent_server_types",
    "SubgraphSchemas": "agent_server_types",
    "Thread": "agent_server_types",
    "ThreadState": "agent_server_types",
    "GraphInfo": "marketplace_types",
}


def __getattr__(name: str) -> Any:
    module = _GENERATED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lmsystems_generated.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Assistant",
    "Checkpoint",
    "Cron",
    "Deployment",
    "GraphDrawing",
    "GraphInfo",
    "GraphSchemas",
    "Interrupt",
    "MultitaskStrategy",
    "Run",
    "StateUpdateResult",
    "StoreItem",
    "StreamMode",
    "StreamPart",
    "SubgraphSchemas",
    "Thread",
    "ThreadState",
    "ThreadStatus",
]


class StreamPart(NamedTuple):
    """One event of a run's stream: compatible with langgraph-sdk's `StreamPart`.

    `event` is the stream mode that produced it (`values`, `updates`, `messages/partial`, `custom`, ...;
    with subgraphs `updates|parent:<task id>`, split into `mode` and `namespace`), `data` the
    JSON-decoded payload, `id` the event id of a resumable stream.
    """

    event: str
    data: Any
    id: str | None = None

    @property
    def mode(self) -> str:
        """The event's name without its namespace: `updates` for `updates|sub:1` (narrows the part's kind,
        as `event` does, for a subgraph's parts too: `if part.mode == "updates": part.data.items()`)."""
        return self.event.partition("|")[0]

    @property
    def namespace(self) -> tuple[str, ...]:
        """Where in the graph the event comes from: `()` for the root graph, `("sub:<task id>",)` for a
        subgraph's (with `stream_subgraphs=True`), one item per level of nesting."""
        event = self.event
        return tuple(event.split("|")[1:]) if "|" in event else ()

    @property
    def text(self) -> str | None:
        """The token text of an AI chat chunk (a `messages-tuple` part, event `messages`), else None:
        `print(part.text or "", end="")`. For the text of a whole stream, see `stream.text()`."""
        return token_text(self.event, self.data)

    def __repr__(self) -> str:
        # Every kind (MessagesPart, ...) prints as the StreamPart it is, as langgraph-sdk's parts do.
        return f"StreamPart(event={self.event!r}, data={self.data!r}, id={self.id!r})"


class StreamMode(enum.StrEnum):
    """What a run streams (strings with these values are accepted everywhere too)."""

    VALUES = "values"
    MESSAGES = "messages"
    MESSAGES_TUPLE = "messages-tuple"
    UPDATES = "updates"
    CUSTOM = "custom"
    EVENTS = "events"
    DEBUG = "debug"
    TASKS = "tasks"
    CHECKPOINTS = "checkpoints"


class MultitaskStrategy(enum.StrEnum):
    """What the server does when a run starts on a busy thread.

    REJECT: refuse with a `ThreadBusyError`. ROLLBACK: cancel the current run and delete what it wrote,
    then start. INTERRUPT: stop the current run where it is, keeping what it wrote, then start (it does not
    pause for a human: `interrupt()` inside the graph does that). ENQUEUE: start after the current run.
    """

    REJECT = "reject"
    ROLLBACK = "rollback"
    INTERRUPT = "interrupt"
    ENQUEUE = "enqueue"


class ThreadStatus(enum.StrEnum):
    """The status of a thread."""

    IDLE = "idle"
    BUSY = "busy"
    INTERRUPTED = "interrupted"
    ERROR = "error"


class StateUpdateResult(TypedDict):
    """What `update_thread_state` returns: the new checkpoint, and its id at the top level."""

    checkpoint: Checkpoint
    checkpoint_id: str


@dataclass(frozen=True)
class Deployment:
    """Where a graph runs: resolved through the marketplace, or given directly.

    The deployment key is kept out of `repr`.
    """

    graph_name: str | None
    url: str
    assistant_id: str | None  # None for a direct client without a graph: each run names its assistant
    api_key: str | None = field(default=None, repr=False)
    configurable: dict[str, Any] = field(default_factory=dict)
    environment_variables: dict[str, Any] = field(default_factory=dict, repr=False)
    via_marketplace: bool = True
