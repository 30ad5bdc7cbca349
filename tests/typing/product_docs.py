"""The product documentation's calls (/work/shared/product/lmsystems-client-docs.txt), as a user writes
them, with the documentation's placeholders (`input={...}`, `base_url="custom-url"`) made real."""

from __future__ import annotations

from lmsystems import (
    APIError,
    AuthenticationError,
    GraphError,
    InputError,
    LmsystemsClient,
    LmsystemsError,
    SyncLmsystemsClient,
)


async def async_client() -> None:
    client = await LmsystemsClient.create(graph_name="your-graph", api_key="your-api-key")
    thread = await client.create_thread()
    status = await client.get_thread_status(thread)
    state = await client.get_thread_state(thread)
    print(status, state["values"])
    async for chunk in client.stream_run(
        thread=thread,
        input={"messages": [{"role": "user", "content": "Your message"}], "other_params": "value"},
        stream_mode=["messages", "updates"],
        multitask_strategy="reject",
    ):
        print(chunk)
    updated_state = await client.update_thread_state(
        thread=thread,
        state_update={"messages": [{"role": "user", "content": "continue"}], "accepted": True},
        as_node="human_interaction",
    )
    async for chunk in client.stream_run(
        thread=thread, input=None, checkpoint_id=updated_state["checkpoint_id"]
    ):
        print(chunk)
    try:
        async for chunk in client.stream_run(thread=thread, input={"messages": []}):
            print(chunk)
    except AuthenticationError:
        print("Authentication failed")
    except GraphError as e:
        print(f"Graph error: {e}")
    except InputError as e:
        print(f"Invalid input: {e}")
    except APIError as e:
        print(f"API error: {e}")
    except LmsystemsError as e:
        print(e.status_code, e.request_id)
    custom = await LmsystemsClient.create(
        graph_name="your-graph", api_key="your-api-key", base_url="https://custom.example"
    )
    async for chunk in custom.stream_run(thread=thread, input={"messages": []}, is_background=True):
        print(chunk)
    history = await client.get_state_history(thread=thread, filter={"node": "specific_node"}, limit=10)
    print(history[0]["checkpoint"])


def sync_client() -> None:
    client = SyncLmsystemsClient(graph_name="your-graph", api_key="your-api-key")
    thread = client.threads.create()
    status = client.get_thread_status(thread)
    state = client.get_thread_state(thread)
    print(status, state["next"], thread["thread_id"])
    for chunk in client.stream_run(
        thread=thread, input={"messages": []}, stream_mode=["messages", "updates"]
    ):
        print(chunk.event, chunk.data)
