"""The stream's parts, narrowed by their event: precise data, no Any, no cast (mypy --strict, pyright)."""

from __future__ import annotations

from typing import Literal, TypeAlias, assert_type

from lmsystems import (
    JSON,
    AnyStreamPart,
    AnySubgraphPart,
    AsyncRunStream,
    LmsystemsClient,
    MessageChunk,
    MessagesPart,
    StreamPart,
    SubgraphUpdatesPart,
    SubgraphValuesPart,
    SyncLmsystemsClient,
    SyncRunStream,
    Thread,
    UpdatesPart,
)


async def chat(client: LmsystemsClient, thread: Thread) -> str:
    text = ""
    async for part in client.stream_run(thread, {"messages": []}, stream_mode="messages-tuple"):
        if part.event == "messages":
            chunk, metadata = part.data
            assert_type(chunk, MessageChunk)
            assert_type(metadata["langgraph_node"], JSON)
            content = part.data[0]["content"]
            assert_type(content, "str | list[JSON]")
            if isinstance(content, str) and part.data[0]["type"] == "AIMessageChunk":
                text += content
        elif part.event == "metadata":
            assert_type(part.data["run_id"], str)
        elif part.event == "values":
            assert_type(part.data["messages"], JSON)
    return text


def each_kind(part: AnyStreamPart) -> None:
    if part.event == "updates":
        for node, update in part.data.items():
            assert_type(node, str)
            assert_type(update, JSON)
    elif part.event == "messages/partial":  # (pyright narrows on ==, not on `in`)
        assert_type(part.data[-1]["content"], "str | list[JSON]")
    elif part.event == "messages/metadata":
        assert_type(part.data["message-id"], "dict[str, JSON]")
    elif part.event == "custom":
        assert_type(part.data, JSON)
    elif part.event == "checkpoints":
        assert_type(part.data["config"], JSON)
    if isinstance(part, MessagesPart):
        assert_type(part.data[1], "dict[str, JSON]")
    show(part)  # every kind is a StreamPart
    assert_type(part.text, "str | None")


def show(part: StreamPart) -> str:
    return f"{part.event}: {part.data}"


def sync_updates(client: SyncLmsystemsClient, thread: Thread) -> list[str]:
    nodes: list[str] = []
    with client.stream_run(thread, {}, stream_mode=["updates", "values"]) as stream:
        for part in stream:
            if part.event == "updates":
                nodes.extend(part.data)
    return nodes


#: The stream of a run with stream_subgraphs=True (or of a join: it may carry subgraphs' parts).
Nested: TypeAlias = AsyncRunStream[AnyStreamPart | AnySubgraphPart]


async def subgraph_updates(client: LmsystemsClient, thread: Thread) -> list[tuple[tuple[str, ...], str]]:
    """With stream_subgraphs=True the parts of subgraphs come too: narrowed by `mode`, typed as a root's."""
    nodes: list[tuple[tuple[str, ...], str]] = []
    stream = client.stream_run(thread, {}, stream_mode=["updates", "messages-tuple"], stream_subgraphs=True)
    assert_type(stream, Nested)
    async for part in stream:
        if part.mode == "updates":
            assert_type(part, UpdatesPart | SubgraphUpdatesPart)
            for node, update in part.data.items():
                assert_type(update, JSON)
                nodes.append((part.namespace, node))
        elif part.mode == "messages":
            chunk, _ = part.data
            assert_type(chunk["content"], "str | list[JSON]")
        if isinstance(part, SubgraphValuesPart):
            assert_type(part.data, "dict[str, JSON]")
            assert_type(part.mode, Literal["values"])
        assert_type(part.event, str)
        assert_type(part.namespace, "tuple[str, ...]")
    return nodes


async def root_streams_keep_event_narrowing(client: LmsystemsClient, thread: Thread, nested: bool) -> None:
    assert_type(client.stream_run(thread, {}), AsyncRunStream[AnyStreamPart])
    assert_type(client.stream_run(thread, {}), AsyncRunStream)  # the default: a root graph's parts
    assert_type(client.stream_run(thread, {}, stream_subgraphs=False), AsyncRunStream[AnyStreamPart])
    assert_type(client.resume(thread, True), AsyncRunStream[AnyStreamPart])
    assert_type(
        client.stream_run(thread, {}, stream_subgraphs=nested),
        AsyncRunStream[AnyStreamPart | AnySubgraphPart],
    )
    assert_type(
        client.resume(thread, True, stream_subgraphs=True), AsyncRunStream[AnyStreamPart | AnySubgraphPart]
    )
    assert_type(
        client.runs.stream(thread, {}, stream_subgraphs=True), AsyncRunStream[AnyStreamPart | AnySubgraphPart]
    )
    assert_type(client.runs.join_stream(thread, "run"), Nested)
    assert_type(client.threads.join_stream(thread), Nested)
    async for part in client.runs.stream(thread, {}):
        if part.event == "updates":
            assert_type(part, UpdatesPart)
    async for joined in client.threads.join_stream(thread, stream_modes=["run_modes", "lifecycle"]):
        if joined.mode == "updates":
            assert_type(joined.data, "dict[str, JSON]")


def sync_subgraphs(client: SyncLmsystemsClient, thread: Thread) -> list[str]:
    nodes: list[str] = []
    with client.stream_run(thread, {}, stream_mode="updates", stream_subgraphs=True) as stream:
        assert_type(stream, SyncRunStream[AnyStreamPart | AnySubgraphPart])
        for part in stream:
            if part.mode == "updates" and part.namespace:
                nodes.extend(part.data)
    return nodes
