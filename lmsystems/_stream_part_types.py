"""The typed kinds of `StreamPart`: one subclass per event the server sends, its `data` typed precisely.

`AnyStreamPart` (the element type of every stream) is their union, tagged by `event`, so a check of the
event narrows the data: `if part.event == "messages": part.data[0]["content"]`. At run time each part is
an instance of its kind (`isinstance(part, MessagesPart)` is true), built at the same cost as a plain
`StreamPart`; the data is the JSON the server sent, unchanged. Events the spec does not name are plain
`StreamPart`s.

The namespaced events of subgraphs (`updates|sub:1`, with `stream_subgraphs=True`) have kinds of their own
(`SubgraphUpdatesPart`, ...; `AnySubgraphPart`): their `event` is any string, their `mode` says what the
data is, so `part.mode == "updates"` narrows a root part and a subgraph's alike. A stream typed
`AnyStreamPart | AnySubgraphPart` (what `stream_subgraphs=True` gives) narrows by `mode`; by `event` only
its root parts.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypeAlias, TypedDict

from ._types import StreamPart

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None
"""Any JSON value, as decoded (objects are dicts, arrays lists)."""
JSONObject: TypeAlias = dict[str, JSON]


class MessageChunk(TypedDict):
    """A LangChain message (or message chunk) as JSON: `type` ("AIMessageChunk", "ai", "human", "tool",
    ...) and `content` (text, or a list of content blocks) are always there."""

    type: str
    content: str | list[JSON]
    id: NotRequired[str | None]
    name: NotRequired[str | None]
    additional_kwargs: NotRequired[JSONObject]
    response_metadata: NotRequired[JSONObject]
    tool_calls: NotRequired[list[JSONObject]]
    tool_call_chunks: NotRequired[list[JSONObject]]
    invalid_tool_calls: NotRequired[list[JSONObject]]
    usage_metadata: NotRequired[JSONObject | None]
    tool_call_id: NotRequired[str]
    status: NotRequired[str]
    artifact: NotRequired[JSON]
    chunk_position: NotRequired[str | None]


class RunMetadata(TypedDict):
    """The data of a `metadata` event: the run's id (its first event), on a thread stream also run ends
    (`status: "run_done"`); `attempt` counts the run's restarts."""

    run_id: str
    thread_id: NotRequired[str]
    attempt: NotRequired[int]
    status: NotRequired[str]


# The kinds redeclare `event` and `data` of the named tuple with narrower types (read-only fields, so
# sound; pyright refuses any redeclaration of a named tuple's field, hence its ignore comments).


class MessagesPart(StreamPart):
    """stream_mode "messages-tuple": a `(message chunk, metadata)` pair (a 2-item list at run time)."""

    __slots__ = ()
    event: Literal["messages"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: tuple[MessageChunk, JSONObject]  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["messages"]:
        return "messages"


class MessagesListPart(StreamPart):
    """stream_mode "messages": the messages so far (`messages/partial`) or finished (`messages/complete`)."""

    __slots__ = ()
    event: Literal["messages/partial", "messages/complete"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: list[MessageChunk]  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["messages/partial", "messages/complete"]:
        return self.event


class MessagesMetadataPart(StreamPart):
    """stream_mode "messages": metadata of the streamed messages, by message id."""

    __slots__ = ()
    event: Literal["messages/metadata"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: dict[str, JSONObject]  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["messages/metadata"]:
        return "messages/metadata"


class ValuesPart(StreamPart):
    """stream_mode "values": the whole state after a step."""

    __slots__ = ()
    event: Literal["values"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["values"]:
        return "values"


class UpdatesPart(StreamPart):
    """stream_mode "updates": what each node that ran wrote, by node name (`__interrupt__`: interrupts)."""

    __slots__ = ()
    event: Literal["updates"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["updates"]:
        return "updates"


class MetadataPart(StreamPart):
    """The first event of a run's stream (and run ends on a thread's stream)."""

    __slots__ = ()
    event: Literal["metadata"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: RunMetadata  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["metadata"]:
        return "metadata"


class CustomPart(StreamPart):
    """stream_mode "custom": whatever the graph's writer sent; `end`: the end of a stream."""

    __slots__ = ()
    event: Literal["custom", "end"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: JSON  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["custom", "end"]:
        return self.event


class ObjectPart(StreamPart):
    """stream_modes "events", "debug", "tasks", "checkpoints", and `feedback` / `state_update` events: a
    JSON object each."""

    __slots__ = ()
    event: Literal["events", "debug", "tasks", "checkpoints", "feedback", "state_update"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["events", "debug", "tasks", "checkpoints", "feedback", "state_update"]:
        return self.event


# The namespaced events of subgraphs: `event` is the wire name (`updates|sub:1`), any string; `mode` (the
# name without the namespace) is the tag, and `data` has the type of the root kind of that mode.


class SubgraphMessagesPart(StreamPart):
    """A subgraph's `messages|...` event (stream_mode "messages-tuple"): a `(chunk, metadata)` pair."""

    __slots__ = ()
    data: tuple[MessageChunk, JSONObject]  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["messages"]:
        return "messages"


class SubgraphMessagesListPart(StreamPart):
    """A subgraph's `messages/partial|...` or `messages/complete|...` event: its messages."""

    __slots__ = ()
    data: list[MessageChunk]  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["messages/partial", "messages/complete"]:
        return self.event.partition("|")[0]  # type: ignore[return-value]  # (the kind is chosen by it)


class SubgraphMessagesMetadataPart(StreamPart):
    """A subgraph's `messages/metadata|...` event: metadata of its streamed messages, by message id."""

    __slots__ = ()
    data: dict[str, JSONObject]  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["messages/metadata"]:
        return "messages/metadata"


class SubgraphValuesPart(StreamPart):
    """A subgraph's `values|...` event: the subgraph's whole state after a step."""

    __slots__ = ()
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["values"]:
        return "values"


class SubgraphUpdatesPart(StreamPart):
    """A subgraph's `updates|...` event: what each of its nodes that ran wrote, by node name."""

    __slots__ = ()
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["updates"]:
        return "updates"


class SubgraphCustomPart(StreamPart):
    """A subgraph's `custom|...` event: whatever its writer sent."""

    __slots__ = ()
    data: JSON  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["custom"]:
        return "custom"


class SubgraphObjectPart(StreamPart):
    """A subgraph's `events|...`, `debug|...`, `tasks|...` or `checkpoints|...` event: a JSON object."""

    __slots__ = ()
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["events", "debug", "tasks", "checkpoints"]:
        return self.event.partition("|")[0]  # type: ignore[return-value]  # (the kind is chosen by it)


class StreamGap(TypedDict):
    """The data of a `gap` part: events of the kinds `events` that the run sent after the event `after`
    (None: from the run's start) while the stream's connection was down may be missing. The server does
    not keep those kinds for replay (langgraph-api keeps no stream_mode "messages" event); every other
    kind was delivered whole."""

    after: str | None
    events: list[str]


class GapPart(StreamPart):
    """Not a server event: a repaired stream's notice that some events may be missing (see `StreamGap`),
    where they would have been. It has no id (`part.id` is None)."""

    __slots__ = ()
    event: Literal["gap"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: StreamGap  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def mode(self) -> Literal["gap"]:
        return "gap"


AnyStreamPart: TypeAlias = (
    MessagesPart
    | MessagesListPart
    | MessagesMetadataPart
    | ValuesPart
    | UpdatesPart
    | MetadataPart
    | CustomPart
    | ObjectPart
    | GapPart
)
"""The element type of a stream: a union of `StreamPart` kinds, narrowed by `part.event == "..."`,
`part.mode == "..."` or `isinstance`."""

AnySubgraphPart: TypeAlias = (
    SubgraphMessagesPart
    | SubgraphMessagesListPart
    | SubgraphMessagesMetadataPart
    | SubgraphValuesPart
    | SubgraphUpdatesPart
    | SubgraphCustomPart
    | SubgraphObjectPart
)
"""The parts of subgraphs (`stream_subgraphs=True`): narrowed by `part.mode == "..."` or `isinstance`;
`part.namespace` says which subgraph."""

#: The kind of part for each event name (others: a plain StreamPart).
PART_TYPES: dict[str, type[StreamPart]] = {
    "messages": MessagesPart,
    "messages/partial": MessagesListPart,
    "messages/complete": MessagesListPart,
    "messages/metadata": MessagesMetadataPart,
    "values": ValuesPart,
    "updates": UpdatesPart,
    "metadata": MetadataPart,
    "custom": CustomPart,
    "end": CustomPart,
    "events": ObjectPart,
    "debug": ObjectPart,
    "tasks": ObjectPart,
    "checkpoints": ObjectPart,
    "feedback": ObjectPart,
    "state_update": ObjectPart,
    "gap": GapPart,
}

#: The kind of a subgraph's part, by the mode of its namespaced event (others: a plain StreamPart).
SUBGRAPH_PART_TYPES: dict[str, type[StreamPart]] = {
    "messages": SubgraphMessagesPart,
    "messages/partial": SubgraphMessagesListPart,
    "messages/complete": SubgraphMessagesListPart,
    "messages/metadata": SubgraphMessagesMetadataPart,
    "values": SubgraphValuesPart,
    "updates": SubgraphUpdatesPart,
    "custom": SubgraphCustomPart,
    "events": SubgraphObjectPart,
    "debug": SubgraphObjectPart,
    "tasks": SubgraphObjectPart,
    "checkpoints": SubgraphObjectPart,
}
