"""Deliberate mistakes: every line marked `# error` must be reported by mypy --strict and by pyright."""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig

from lmsystems import LmsystemsClient, PurchasedGraph, SyncLmsystemsClient, Thread


async def mistakes(client: LmsystemsClient, thread: Thread) -> None:
    await LmsystemsClient.create(graph_name="g", api_kye="k")  # error
    client.stream_run(thread, {}, stream_mode="mesages")  # error
    client.stream_run(thread, {}, stream_mode=["messages", "updatez"])  # error
    client.stream_run(thread, {}, stream_modes=["messages"])  # error
    client.stream_run(thread, {}, multitask_strategy="rejekt")  # error
    client.stream_run(thread, {}, durabilty="exit")  # error
    client.stream_run(thread, {}, durability="never")  # error
    client.stream_run(thread, {}, command={"resum": 1})  # error
    client.resume(thread, True, stream_mode="value")  # error
    await client.create_thread(if_exists="ignore")  # error
    await client.runs.create(thread, {}, on_completion="forget")  # error
    await client.runs.wait(thread, {}, multitask_strategy="queue")  # error
    await client.threads.search(sort_order="up")  # error
    await client.threads.search(status="done")  # error
    await client.crons.create("* * * * *", stream_mode="value")  # error
    await client.crons.create("* * * * *", durability="later")  # error
    await client.runs.cancel_many(status="done")  # error
    await client.threads.search(sort_by="name")  # error
    await client.threads.search(select=["thread_id", "valuez"])  # error
    await client.threads.prune([thread], strategy="all")  # error
    await client.assistants.search(sort_by="id")  # error
    await client.crons.search(select=["cron"])  # error
    client.thread_stream(transport="ws")  # error
    async with client.thread_stream() as session:
        await session.start({}, multitask_strategy="rejekt")  # error
        await session.start({}, multitask_stratgy="reject")  # error
        await session.respond(True, interupt_id="i")  # error


def sync_mistakes(thread: Thread) -> None:
    client = SyncLmsystemsClient(graph_name="g", api_kye="k")  # error
    client.stream_run(thread, {}, stream_mode="mesages")  # error
    client.stream_run(thread, {}, stream_modes="values")  # error


async def stream_mistakes(client: LmsystemsClient, thread: Thread) -> None:
    async for part in client.stream_run(thread, {}, stream_mode="messages-tuple"):
        if part.event == "messages":
            part.data["content"]  # error
            part.data[0]["contnet"]  # error
            part.data[0]["content"].upper()  # error
        elif part.event == "values":
            part.data[0]  # error
        elif part.event == "metadata":
            part.data["run_id"] + 1  # error
        elif part.event == "messages-tuple":  # error
            pass


async def subgraph_mistakes(client: LmsystemsClient, thread: Thread) -> None:
    async for part in client.stream_run(thread, {}, stream_subgraphs=True):
        if part.mode == "updates":
            part.data[0]  # error
            part.namespace.upper()  # error
        elif part.mode == "messages":
            part.data["content"]  # error
        elif part.mode == "updatez":  # error
            pass
    client.stream_run(thread, {}, stream_subgraphs="yes")  # error
    await client.threads.join_stream(thread, stream_modes=["run"]).collect()  # error


def purchased_mistakes(purchased: PurchasedGraph) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    purchased.get_state(config, subgraph=True)  # error
    purchased.get_state_history(config, limt=2)  # error
    purchased.update_state(config, {}, headres={})  # error
