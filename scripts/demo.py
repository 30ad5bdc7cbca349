"""The demo: a local Agent Server and marketplace, and the documented flow through the SDK.

    nox -s demo

Starts the real LangGraph Agent Server (in-memory, the graphs of tests/agent_server/) and a local marketplace
on free ports, then, with the public SDK only: resolves "approval-graph" through the marketplace, streams a
run until it stops at an interrupt, answers it as the documentation shows (update the state as the human
node, then stream from the returned checkpoint), resumes a second thread with Command(resume=...), streams
tokens from "chat-graph" with the sync client, and reads the history.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.agent_server import TEST_AGENT_SERVER_DIR, start_agent_server  # noqa: E402
from support.marketplace import build_test_table, create_marketplace_app, start_marketplace_server  # noqa: E402

from lmsystems import LmsystemsClient, SyncLmsystemsClient  # noqa: E402

USER_KEY = "lms_test_user_key"


def show(label: str, value: object) -> None:
    text = str(value)
    print(f"  {label:<10} {text if len(text) < 110 else text[:107] + '...'}")


async def approval_flow(base_url: str) -> None:
    print("\n== async client: approval-graph, resolved through the marketplace")
    client = await LmsystemsClient.create(graph_name="approval-graph", api_key=USER_KEY, base_url=base_url)
    async with client:
        show("deployment", client.deployment)
        thread = await client.create_thread()
        show("thread", thread["thread_id"])
        stream = client.stream_run(
            thread=thread,
            input={"messages": [{"role": "user", "content": "Ship the release"}]},
            stream_mode=["updates"],
            multitask_strategy="reject",
        )
        async for chunk in stream:
            show(chunk.event, chunk.data)
        show("status", await client.get_thread_status(thread))
        show("question", stream.interrupts[0]["value"])

        print("-- answer it as the documentation shows: update the state as the human node, then resume")
        updated_state = await client.update_thread_state(
            thread=thread,
            state_update={"messages": [{"role": "user", "content": "continue"}], "accepted": True},
            as_node="human_interaction",
        )
        show("checkpoint", updated_state["checkpoint_id"])
        async for chunk in client.stream_run(
            thread=thread, input=None, checkpoint_id=updated_state["checkpoint_id"], stream_mode="updates"
        ):
            show(chunk.event, chunk.data)
        state = await client.get_thread_state(thread)
        show("outcome", state["values"].get("outcome"))
        history = await client.get_state_history(thread=thread, limit=10)
        show("history", f"{len(history)} checkpoints, newest first")

        print("-- a second thread, resumed with Command(resume=False)")
        other = await client.create_thread()
        async for _ in client.stream_run(
            thread=other, input={"messages": [{"role": "user", "content": "Drop it"}]}
        ):
            pass
        async for chunk in client.resume(other, False, stream_mode="values"):
            last = chunk
        show("outcome", last.data.get("outcome"))


def chat_flow(base_url: str) -> None:
    print("\n== sync client: chat-graph, tokens as they arrive")
    with SyncLmsystemsClient(graph_name="chat-graph", api_key=USER_KEY, base_url=base_url) as client:
        thread = client.threads.create()
        tokens = []
        for chunk in client.stream_run(
            thread=thread,
            input={"messages": [{"role": "user", "content": "hello"}]},
            stream_mode="messages-tuple",
        ):
            if chunk.event == "messages":
                tokens.append(chunk.data[0]["content"])
        show("tokens", tokens)
        show("reply", "".join(tokens))


def main() -> int:
    deployment_key = "lms_demo_" + secrets.token_hex(8)
    print("starting the local Agent Server (langgraph dev) and marketplace ...")
    with start_agent_server(TEST_AGENT_SERVER_DIR, deployment_key=deployment_key) as server:
        app = create_marketplace_app(build_test_table(), server.url, deployment_key)
        with start_marketplace_server(app) as marketplace:
            print(f"  Agent Server  {server.url}\n  marketplace   {marketplace.url}")
            asyncio.run(approval_flow(marketplace.url))
            chat_flow(marketplace.url)
            tracked = [run.run_id for run in app.state.tracked_runs]
            print(f"\nthe marketplace recorded {len(tracked)} runs; the demo ran end to end.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
