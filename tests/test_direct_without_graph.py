"""A direct client (`deployment_url=`) without a graph: like langgraph-sdk's `get_client(url=...)`.

Threads, state, store, assistants and crons need no graph; a run names its assistant (`assistant_id=`, a
graph id or an assistant id), and a run that names none is refused before any request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lmsystems import AuthenticationError, InputError, LmsystemsClient, SyncLmsystemsClient

CHAT_INPUT = {"messages": [{"role": "user", "content": "hi"}]}


def test_a_sync_direct_client_without_a_graph(agent_server: Any) -> None:
    with SyncLmsystemsClient(
        deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
    ) as client:
        assert client.graph_name is None
        deployment = client.connect()
        assert deployment.graph_name is None and deployment.assistant_id is None
        assert deployment.url == agent_server.url and not deployment.via_marketplace
        thread = client.create_thread()
        assert client.get_thread_status(thread) == "idle"
        assert client.assistants.search(graph_id="chat", limit=1)[0]["graph_id"] == "chat"
        with pytest.raises(InputError, match=r"pass assistant_id="):
            client.stream_run(thread, CHAT_INPUT)  # refused at the call: nothing is sent
        with pytest.raises(InputError, match=r"pass assistant_id="):
            client.runs.wait(thread, CHAT_INPUT)
        with pytest.raises(InputError, match=r"pass assistant_id="):
            client.crons.create("0 9 * * 1", thread=thread, input=CHAT_INPUT)
        assert client.runs.list(thread) == []
        parts = client.stream_run(thread, CHAT_INPUT, stream_mode="values", assistant_id="chat").collect()
        assert parts[-1].data["messages"][-1]["type"] == "ai"
        assert client.runs.wait(thread, CHAT_INPUT, assistant_id="chat")["messages"][-1]["type"] == "ai"


def test_an_async_direct_client_without_a_graph(agent_server: Any) -> None:
    async def main() -> None:
        client = await LmsystemsClient.create(
            deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
        )
        async with client:
            assert client.graph_name is None and client.deployment is not None
            thread = await client.create_thread()
            with pytest.raises(InputError, match=r"pass assistant_id="):
                client.stream_run(thread, CHAT_INPUT)
            parts = [
                part
                async for part in client.stream_run(
                    thread, CHAT_INPUT, stream_mode="values", assistant_id="chat"
                )
            ]
            assert parts[-1].data["messages"][-1]["type"] == "ai"

    asyncio.run(main())


def test_without_a_graph_a_wrong_key_fails_at_create(agent_server: Any) -> None:
    with pytest.raises(AuthenticationError):
        SyncLmsystemsClient(deployment_url=agent_server.url, deployment_key="lms_wrong_key_0000")


def test_the_marketplace_still_needs_a_graph_name() -> None:
    with pytest.raises(InputError, match="graph_name"):
        SyncLmsystemsClient(api_key="lms_some_user_key")
    with pytest.raises(InputError, match="graph_name"):
        LmsystemsClient(api_key="lms_some_user_key")
