"""The typed kinds of `StreamPart`: one subclass per event the server sends, its `data` typed precisely.

`AnyStreamPart` (the element type of every stream) is their union, tagged by `event`, so a check of the
event narrows the data: `if part.event == "messages": part.data[0]["content"]`. At run time each part is
an instance of its kind (`isinstance(part, MessagesPart)` is true), built at the same cost as a plain
`StreamPart`; the data is the JSON the server sent, unchanged. Events the spec does not name, and the
namespaced events of subgraphs (`updates|sub:1`), are plain `StreamPart`s.
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


class MessagesListPart(StreamPart):
    """stream_mode "messages": the messages so far (`messages/partial`) or finished (`messages/complete`)."""

    __slots__ = ()
    event: Literal["messages/partial", "messages/complete"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: list[MessageChunk]  # pyright: ignore[reportIncompatibleVariableOverride]


class MessagesMetadataPart(StreamPart):
    """stream_mode "messages": metadata of the streamed messages, by message id."""

    __slots__ = ()
    event: Literal["messages/metadata"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: dict[str, JSONObject]  # pyright: ignore[reportIncompatibleVariableOverride]


class ValuesPart(StreamPart):
    """stream_mode "values": the whole state after a step."""

    __slots__ = ()
    event: Literal["values"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]


class UpdatesPart(StreamPart):
    """stream_mode "updates": what each node that ran wrote, by node name (`__interrupt__`: interrupts)."""

    __slots__ = ()
    event: Literal["updates"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]


class MetadataPart(StreamPart):
    """The first event of a run's stream (and run ends on a thread's stream)."""

    __slots__ = ()
    event: Literal["metadata"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: RunMetadata  # pyright: ignore[reportIncompatibleVariableOverride]


class CustomPart(StreamPart):
    """stream_mode "custom": whatever the graph's writer sent; `end`: the end of a stream."""

    __slots__ = ()
    event: Literal["custom", "end"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: JSON  # pyright: ignore[reportIncompatibleVariableOverride]


class ObjectPart(StreamPart):
    """stream_modes "events", "debug", "tasks", "checkpoints", and `feedback` / `state_update` events: a
    JSON object each."""

    __slots__ = ()
    event: Literal["events", "debug", "tasks", "checkpoints", "feedback", "state_update"]  # pyright: ignore[reportIncompatibleVariableOverride]
    data: JSONObject  # pyright: ignore[reportIncompatibleVariableOverride]


AnyStreamPart: TypeAlias = (
    MessagesPart
    | MessagesListPart
    | MessagesMetadataPart
    | ValuesPart
    | UpdatesPart
    | MetadataPart
    | CustomPart
    | ObjectPart
)
"""The element type of a stream: a union of `StreamPart` kinds, narrowed by `part.event == "..."` (or
`isinstance`)."""

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
}
