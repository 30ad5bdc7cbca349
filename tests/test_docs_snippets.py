"""Every snippet of the product documentation (lmsystems-client-docs.txt) works as written, async and sync.

The snippets run through the test marketplace: `graph_name="approval-graph"` (draft -> interrupt in
human_interaction -> finalize), `api_key=marketplace.user_key` and `base_url=marketplace.url` (the
documented "Custom Configuration"). The two creation snippets without `base_url` run word for word in a
subprocess whose environment points `LMSYSTEMS_BASE_URL` at the marketplace. The docs' `input={...}` is a
placeholder: literally a set holding Ellipsis, which the SDK refuses with an InputError (tested below);
the runs use a real input instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lmsystems import (
    APIError,
    AuthenticationError,
    GraphError,
    InputError,
    LmsystemsClient,
    LmsystemsError,
    RunError,
    StreamPart,
    SyncLmsystemsClient,
    ThreadStatus,
)

GRAPH = "approval-graph"
MESSAGE_INPUT = {"messages": [{"role": "user", "content": "Your message"}], "other_params": "value"}
REAL_INPUT = {"messages": [{"role": "user", "content": "Ship the release"}]}


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


async def async_client(marketplace: Any, graph_name: str = GRAPH) -> LmsystemsClient:
    # "Custom Configuration": create(graph_name=..., api_key=..., base_url=...)
    return await LmsystemsClient.create(
        graph_name=graph_name, api_key=marketplace.user_key, base_url=marketplace.url
    )


def sync_client(marketplace: Any, graph_name: str = GRAPH) -> SyncLmsystemsClient:
    return SyncLmsystemsClient(graph_name=graph_name, api_key=marketplace.user_key, base_url=marketplace.url)


def _env(**extra: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in ("PATH", "HOME", "SYSTEMROOT", "TMPDIR") if name in os.environ}
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------ Client Types

CREATION_SNIPPETS = textwrap.dedent(
    """
    import asyncio, json, sys

    async def documented_async():
        from lmsystems import LmsystemsClient
        # Initialize client
        client = await LmsystemsClient.create(
        graph_name="approval-graph",
        api_key=sys.argv[1]
        )
        try:
            return client.deployment.assistant_id
        finally:
            await client.aclose()

    def documented_sync():
        from lmsystems import SyncLmsystemsClient
        # Initialize client
        client = SyncLmsystemsClient(
        graph_name="approval-graph",
        api_key=sys.argv[1]
        )
        try:
            return client.deployment.assistant_id
        finally:
            client.close()

    print(json.dumps({"async": asyncio.run(documented_async()), "sync": documented_sync()}))
    """
)


def test_client_types_snippets_as_written(marketplace: Any) -> None:
    """`LmsystemsClient.create(graph_name=..., api_key=...)` and `SyncLmsystemsClient(...)`, no base_url."""
    before = len(marketplace.graph_info_requests)
    done = subprocess.run(
        [sys.executable, "-c", CREATION_SNIPPETS, marketplace.user_key],
        env=_env(LMSYSTEMS_BASE_URL=marketplace.url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"async": "approval", "sync": "approval"}
    requests = marketplace.graph_info_requests[before:]
    assert [(r.graph_name, r.user_key, r.status_code) for r in requests] == [
        (GRAPH, marketplace.user_key, 200),
        (GRAPH, marketplace.user_key, 200),
    ]


def test_custom_configuration_snippet(marketplace: Any) -> None:
    async def scenario() -> None:
        client = await LmsystemsClient.create(
            graph_name="approval-graph",
            api_key=marketplace.user_key,
            base_url=marketplace.url,  # Custom API endpoint
        )
        try:
            assert client.graph_name == GRAPH
            assert client.deployment is not None
            assert client.deployment.url == marketplace.agent_server.url
            assert client.deployment.assistant_id == "approval"
        finally:
            await client.aclose()

    run(scenario())


def test_custom_configuration_placeholder_url_is_refused() -> None:
    """`base_url="custom-url"` as printed is not a URL: an InputError naming base_url, nothing sent."""
    with pytest.raises(InputError, match="base_url"):
        run(LmsystemsClient.create(graph_name="your-graph", api_key="your-api-key", base_url="custom-url"))


# ---------------------------------------------------------------- Thread Operations, Running Graphs


def _kinds(chunks: list[StreamPart]) -> set[str]:
    return {chunk.event for chunk in chunks}


def test_thread_operations_and_stream_run_async(marketplace: Any, capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> None:
        client = await async_client(marketplace)
        try:
            # Create a new thread
            thread = await client.create_thread()  # async
            assert isinstance(thread["thread_id"], str) and thread["thread_id"]
            # Get thread status
            status = await client.get_thread_status(thread)  # async
            assert status == ThreadStatus.IDLE == "idle"
            # Get thread state
            state = await client.get_thread_state(thread)  # async
            assert state["values"] in ({}, None)
            assert state["next"] == []

            # Stream run (recommended approach)
            chunks = []
            async for chunk in client.stream_run(  # async
                thread=thread,
                input={"messages": [{"role": "user", "content": "Your message"}], "other_params": "value"},
                stream_mode=["messages", "updates"],
                multitask_strategy="reject",
            ):
                print(chunk)
                chunks.append(chunk)
            assert chunks[0].event == "metadata"
            assert "updates" in _kinds(chunks)
            assert any(kind.startswith("messages/") for kind in _kinds(chunks)), _kinds(chunks)
            updates = [c.data for c in chunks if c.event == "updates"]
            assert updates[0]["draft"]["proposal"] == "Your message"
            assert updates[-1]["__interrupt__"][0]["value"]["question"] == "Approve?"
            assert await client.get_thread_status(thread) == ThreadStatus.INTERRUPTED
        finally:
            await client.aclose()

    run(scenario())
    assert "StreamPart(event='updates'" in capsys.readouterr().out


def test_thread_operations_and_stream_run_sync(marketplace: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = sync_client(marketplace)
    try:
        thread = client.threads.create()  # sync
        assert thread["thread_id"]
        status = client.get_thread_status(thread)  # sync
        assert status == ThreadStatus.IDLE
        state = client.get_thread_state(thread)  # sync
        assert state["next"] == []

        # Sync version
        chunks = []
        for chunk in client.stream_run(  # sync
            thread=thread,
            input=MESSAGE_INPUT,
            stream_mode=["messages", "updates"],
        ):
            print(chunk)
            chunks.append(chunk)
        assert chunks[0].event == "metadata"
        assert "updates" in _kinds(chunks)
        assert any(kind.startswith("messages/") for kind in _kinds(chunks))
        assert client.get_thread_status(thread) == ThreadStatus.INTERRUPTED
    finally:
        client.close()
    assert "StreamPart(event='updates'" in capsys.readouterr().out


def test_docs_input_placeholder_is_refused_before_sending(marketplace: Any) -> None:
    """`input={...}` (the docs' placeholder) is a set: InputError naming `input`, and no run is made."""
    client = sync_client(marketplace)
    try:
        thread = client.threads.create()
        with pytest.raises(InputError, match="input"):
            for _chunk in client.stream_run(thread=thread, input={...}, stream_mode=["messages", "updates"]):
                pass
        assert client.runs.list(thread) == []
    finally:
        client.close()


# -------------------------------------------------------------------------- Handling Interruptions


async def _interrupted_thread(client: LmsystemsClient) -> dict[str, Any]:
    thread = await client.create_thread()
    stream = client.stream_run(thread=thread, input=MESSAGE_INPUT, stream_mode=["messages", "updates"])
    await stream.collect()
    assert stream.interrupted
    return dict(thread)


def test_handling_interruptions_snippet_async(marketplace: Any) -> None:
    async def scenario() -> None:
        client = await async_client(marketplace)
        try:
            thread = await _interrupted_thread(client)
            # Update state for interrupted thread
            updated_state = await client.update_thread_state(  # async
                thread=thread,
                state_update={"messages": [{"role": "user", "content": "continue"}], "accepted": True},
                as_node="human_interaction",
            )
            assert isinstance(updated_state["checkpoint_id"], str)
            assert updated_state["checkpoint"]["checkpoint_id"] == updated_state["checkpoint_id"]
            # Resume from checkpoint
            chunks = []
            async for chunk in client.stream_run(
                thread=thread, input=None, checkpoint_id=updated_state["checkpoint_id"]
            ):
                print(chunk)
                chunks.append(chunk)
            final = [c.data for c in chunks if c.event == "values"][-1]
            assert final["outcome"] == "approved"
            assert final["accepted"] is True
            assert final["messages"][-1]["content"] == "Approved: Your message"
            assert final["messages"][-1]["name"] == "finalizer"
            state = await client.get_thread_state(thread)
            assert state["next"] == []
            assert await client.get_thread_status(thread) == ThreadStatus.IDLE
            # the finalize node ran after the update that stood in for human_interaction
            history = await client.get_state_history(thread=thread, limit=10)
            assert history[0]["values"]["outcome"] == "approved"
            assert history[1]["metadata"]["source"] == "update"
            assert history[1]["next"] == ["finalize"]
        finally:
            await client.aclose()

    run(scenario())


def test_handling_interruptions_snippet_sync(marketplace: Any) -> None:
    with sync_client(marketplace) as client:
        thread = client.threads.create()
        first = client.stream_run(thread=thread, input=MESSAGE_INPUT, stream_mode="updates")
        first.collect()
        assert first.interrupted
        updated_state = client.update_thread_state(
            thread=thread,
            state_update={"messages": [{"role": "user", "content": "continue"}], "accepted": True},
            as_node="human_interaction",
        )
        chunks = list(
            client.stream_run(thread=thread, input=None, checkpoint_id=updated_state["checkpoint_id"])
        )
        final = [c.data for c in chunks if c.event == "values"][-1]
        assert final["outcome"] == "approved"
        assert final["messages"][-1]["content"] == "Approved: Your message"
        assert client.get_thread_status(thread) == ThreadStatus.IDLE


# --------------------------------------------------------------------------------- Error Handling


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _documented_error_handling(make_client: Callable[[], LmsystemsClient], **run: Any) -> str:
    """The documented try/except, verbatim in its order; returns the branch that caught the error."""
    client = make_client()
    try:
        try:
            async for chunk in client.stream_run(**run):
                print(chunk)
        except AuthenticationError:
            print("Authentication failed")
            return "AuthenticationError"
        except GraphError as e:
            print(f"Graph error: {e}")
            return "GraphError"
        except InputError as e:
            print(f"Invalid input: {e}")
            return "InputError"
        except APIError as e:
            print(f"API error: {e}")
            return "APIError"
        return "no error"
    finally:
        await client.aclose()


def test_error_handling_snippet_imports_and_except_order(marketplace: Any) -> None:
    """Each documented branch catches its own kind of failure, in the documented order."""
    assert issubclass(AuthenticationError, LmsystemsError)
    assert issubclass(GraphError, LmsystemsError)
    assert issubclass(InputError, LmsystemsError)
    assert issubclass(APIError, LmsystemsError)
    # the order of the except clauses does not shadow a later one
    assert not issubclass(GraphError, AuthenticationError)
    assert not issubclass(InputError, AuthenticationError | GraphError)
    assert not issubclass(APIError, AuthenticationError | GraphError | InputError)

    def client_for(graph: str, key: str, base_url: str | None = None) -> Callable[[], LmsystemsClient]:
        return lambda: LmsystemsClient(
            graph_name=graph, api_key=key, base_url=base_url or marketplace.url, max_retries=0
        )

    async def scenario() -> list[str]:
        setup = await async_client(marketplace, "failing-graph")
        try:
            failing_thread = await setup.create_thread()
        finally:
            await setup.aclose()
        return list(
            await asyncio.gather(
                _documented_error_handling(
                    client_for(GRAPH, "lms_not_a_known_key"), thread=None, input=REAL_INPUT
                ),
                _documented_error_handling(
                    client_for("failing-graph", marketplace.user_key),
                    thread=failing_thread,
                    input={"fail": True},
                ),
                _documented_error_handling(
                    client_for(GRAPH, marketplace.user_key), thread=None, input=REAL_INPUT, stream_mode="nope"
                ),
                _documented_error_handling(
                    client_for(GRAPH, marketplace.user_key, f"http://127.0.0.1:{_closed_port()}"),
                    thread=None,
                    input=REAL_INPUT,
                ),
                _documented_error_handling(
                    client_for("no-such-graph", marketplace.user_key), thread=None, input=REAL_INPUT
                ),
            )
        )

    assert run(scenario()) == ["AuthenticationError", "GraphError", "InputError", "APIError", "GraphError"]


def test_error_handling_graph_error_is_the_run_error(marketplace: Any) -> None:
    async def scenario() -> None:
        client = await async_client(marketplace, "failing-graph")
        try:
            thread = await client.create_thread()
            with pytest.raises(GraphError) as caught:
                async for chunk in client.stream_run(thread=thread, input={"fail": True}):
                    print(chunk)
            assert isinstance(caught.value, RunError)
            assert caught.value.error_type == "ValueError"
            assert "lmsystems test graph failure" in str(caught.value)
        finally:
            await client.aclose()

    run(scenario())


# ---------------------------------------------------------------------------------- Advanced Usage


def test_background_tasks_snippet(marketplace: Any) -> None:
    async def scenario() -> None:
        client = await async_client(marketplace)
        try:
            thread = await client.create_thread()
            chunks = []
            # Run in background with is_background=True
            stream = client.stream_run(thread=thread, input=REAL_INPUT, is_background=True)
            async for chunk in stream:
                print(chunk)
                chunks.append(chunk)
            assert stream.run_id is not None
            values = [c.data for c in chunks if c.event == "values"]
            assert values and values[-1]["proposal"] == "Ship the release"
            assert stream.interrupted
            run_record = await client.runs.get(thread, stream.run_id)
            assert run_record["status"] in ("success", "interrupted")
            assert await client.get_thread_status(thread) == ThreadStatus.INTERRUPTED
        finally:
            await client.aclose()

    run(scenario())


def test_background_tasks_snippet_sync(marketplace: Any) -> None:
    with sync_client(marketplace) as client:
        thread = client.threads.create()
        stream = client.stream_run(thread=thread, input=REAL_INPUT, is_background=True)
        chunks = list(stream)
        assert stream.run_id is not None
        assert [c.data for c in chunks if c.event == "values"][-1]["proposal"] == "Ship the release"
        assert client.get_thread_status(thread) == ThreadStatus.INTERRUPTED


def test_state_history_snippet(marketplace: Any) -> None:
    async def scenario() -> None:
        client = await async_client(marketplace)
        try:
            thread = await _interrupted_thread(client)
            await client.update_thread_state(
                thread=thread, state_update={"accepted": False}, as_node="human_interaction"
            )
            # Get state history -- as documented; no checkpoint carries a "node" key, so none match
            history = await client.get_state_history(
                thread=thread, filter={"node": "specific_node"}, limit=10
            )
            assert history == []
            # filters on keys the server's checkpoint metadata does carry
            updates = await client.get_state_history(thread=thread, filter={"source": "update"}, limit=10)
            assert [h["metadata"]["source"] for h in updates] == ["update"]
            assert updates[0]["values"]["accepted"] is False
            step_one = await client.get_state_history(thread=thread, filter={"step": 1}, limit=10)
            assert [h["metadata"]["step"] for h in step_one] == [1]
            assert step_one[0]["next"] == ["human_interaction"]
            everything = await client.get_state_history(thread=thread, limit=10)
            assert [h["metadata"]["step"] for h in everything] == [2, 1, 0, -1]
            assert len(await client.get_state_history(thread=thread, limit=2)) == 2
        finally:
            await client.aclose()

    run(scenario())


def test_state_history_snippet_sync(marketplace: Any) -> None:
    with sync_client(marketplace) as client:
        thread = client.threads.create()
        client.stream_run(thread=thread, input=REAL_INPUT).collect()
        assert client.get_state_history(thread=thread, filter={"node": "specific_node"}, limit=10) == []
        history = client.get_state_history(thread=thread, filter={"source": "loop"}, limit=10)
        assert [h["metadata"]["step"] for h in history] == [1, 0]
