"""The stream's parts, narrowed by their event: precise data, no Any, no cast (mypy --strict, pyright)."""

from __future__ import annotations

from typing import assert_type

from lmsystems import (
    JSON,
    AnyStreamPart,
    LmsystemsClient,
    MessageChunk,
    MessagesPart,
    StreamPart,
    SyncLmsystemsClient,
    Thread,
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
